"""Families of synthetic controls: videos whose per-class answer is known by construction.

A family is one module holding a :class:`Family`: its classes with their ground-truth cue and a
``render(name, rng, frames, size)`` function. Families are designed independently of each other
(different objects, motions, appearance cues and distractors) so that a verdict rule is judged on
data it was not tuned to. To add one, write ``motionprobe/data/families/NAME.py`` defining
``FAMILY`` and list it in :data:`FAMILIES` below.

Every family obeys the same contract, which is what makes the ground truth exact:

* ``appearance`` classes are told apart by any single frame.
* ``motion`` classes need several frames, but their frames are exchangeable (a shuffled clip has
  the distribution of an unshuffled one), so order carries nothing. One of them, ``still``, never
  moves.
* ``order`` classes come in reverse pairs: a clip of A played backwards is a clip of its partner B,
  and A and B have the same distribution of frame sets, so only the order tells them apart.
* The single-frame marginal is the same for every motion and order class at every frame index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

import numpy as np

from motionprobe.types import ClassSpec

#: What the ground-truth cue of a class says on each verdict axis: does one frame suffice, does
#: the order of the frames matter, and the verdict that follows.
AXES_BY_CUE = {
    "appearance": {"sufficient": True, "order": False, "verdict": "single_frame"},
    "motion": {"sufficient": False, "order": False, "verdict": "bag_of_frames"},
    "order": {"sufficient": False, "order": True, "verdict": "ordered_sequence"},
}


@dataclass(frozen=True)
class Family:
    """One family of synthetic controls.

    Attributes:
        name: Registry name (``motionprobe synth --family NAME``).
        description: What the videos show and why the ground truth holds.
        classes: The classes with their cue and reverse partner.
        render: ``render(name, rng, frames, size)`` -> uint8 ``(frames, size, size, 3)`` RGB;
            all randomness comes from ``rng``.
        smoke: Six classes for seconds-long smoke runs (two appearance, ``still`` and one more
            motion class, one reverse pair).
    """

    name: str
    description: str
    classes: tuple[ClassSpec, ...]
    render: Callable[[str, np.random.Generator, int, int], np.ndarray]
    smoke: tuple[str, ...]

    def spec(self, name: str) -> ClassSpec:
        """The class called ``name``; ``ValueError`` naming the family's classes otherwise."""
        for s in self.classes:
            if s.name == name:
                return s
        raise ValueError(
            f"family {self.name!r} has no class {name!r}: {[s.name for s in self.classes]}"
        )


#: Registered families, by name, each in its own module of this package.
FAMILIES = ("squares", "spin", "swarm")


def get_family(name: str) -> Family:
    """The family called ``name`` (one of :data:`FAMILIES`)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown control family {name!r}; choose from {list(FAMILIES)}")
    return import_module(f"{__name__}.{name}").FAMILY


def ground_truth(spec: ClassSpec) -> dict:
    """The row of ``classes.json`` for one class: its spec and what its cue says on every axis."""
    return {
        "name": spec.name,
        "cue": spec.cue,
        "reverse_partner": spec.reverse_partner,
        "description": spec.description,
        **AXES_BY_CUE[spec.cue],
    }
