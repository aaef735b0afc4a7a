"""Temporal interventions, frame selection, the temporal generator and the probe engine."""

from motionprobe.interventions import (
    INTERVENTIONS,
    appearance_free,
    conflict,
    freeze,
    inject_motion,
    motion_energy,
    occlude,
    parse,
    reverse,
    shuffle,
    single_frame,
    subsample,
)
from motionprobe.probes.engine import DEFAULT_SUITE, run_probe
from motionprobe.probes.selection import select

#: ``probes.run(...)``: the same as :func:`run_probe`.
run = run_probe

__all__ = [
    "DEFAULT_SUITE",
    "INTERVENTIONS",
    "appearance_free",
    "conflict",
    "freeze",
    "inject_motion",
    "motion_energy",
    "occlude",
    "parse",
    "reverse",
    "run",
    "run_probe",
    "select",
    "shuffle",
    "single_frame",
    "subsample",
]
