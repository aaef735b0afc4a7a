"""The ``squares`` family: one textured square on a torus, coloured or grey.

Every video shows one textured square on a static textured background. Space is a torus: objects
that leave one edge re-enter at the other, so an object's position in any single frame is uniform
over the canvas whatever its motion. That is what makes the ground truth hold exactly:

* **appearance** classes: the object's colour names the class; it is visible in every frame, and the
  object's motion is drawn from a class-independent mixture of all the motions below.
* **motion** classes: a grey object (same distribution of texture, size and brightness for all
  motion and order classes); the class is given by the *set* of frames: ``still`` (no motion at all,
  the frames are identical), ``shake_horizontal``/``shake_vertical`` (independent random jumps
  along one axis) and ``teleport`` (independent random positions). Frames are exchangeable, so a
  shuffled clip has the same distribution as the original: order carries nothing.
* **order** classes: constant-velocity translation, in reverse-partner pairs (``move_right`` /
  ``move_left``, ...). A clip's time reversal is exactly a clip of the partner class, and the two
  have the same distribution of frame *sets*: only the order tells them apart.

The marginal distribution of any single frame (any index) is therefore the same across all motion
and order classes, and the same across all appearance classes up to the colour.
"""

from __future__ import annotations

import numpy as np

from motionprobe.data.families import Family
from motionprobe.types import ClassSpec

#: Object tints of the appearance classes (RGB multipliers of the grey texture). Half-saturated
#: so that a coloured object stands out from the background as brightly as a grey one does.
TINTS = {
    "red_object": (1.0, 0.45, 0.45),
    "green_object": (0.45, 1.0, 0.45),
    "blue_object": (0.5, 0.5, 1.0),
}

#: Velocities (dx, dy) in pixels per frame of the order classes, in reverse-partner pairs.
VELOCITIES = {
    "move_right": (1, 0),
    "move_left": (-1, 0),
    "move_down": (0, 1),
    "move_up": (0, -1),
    "move_down_right": (1, 1),
    "move_up_left": (-1, -1),
}
PARTNERS = {
    "move_right": "move_left",
    "move_left": "move_right",
    "move_down": "move_up",
    "move_up": "move_down",
    "move_down_right": "move_up_left",
    "move_up_left": "move_down_right",
}
MOTIONS = ("still", "shake_horizontal", "shake_vertical", "teleport")

CLASSES: tuple[ClassSpec, ...] = (
    *(
        ClassSpec(
            name, "appearance", None, f"a {name.split('_')[0]} object; motion drawn at random"
        )
        for name in TINTS
    ),
    ClassSpec("still", "motion", None, "a grey object that never moves: no motion at all"),
    ClassSpec("shake_horizontal", "motion", None, "a grey object jumping at random along x"),
    ClassSpec("shake_vertical", "motion", None, "a grey object jumping at random along y"),
    ClassSpec("teleport", "motion", None, "a grey object at an independent random place per frame"),
    *(
        ClassSpec(
            name, "order", PARTNERS[name], f"a grey object moving {name[5:].replace('_', ' ')}"
        )
        for name in VELOCITIES
    ),
)


def class_specs() -> list[ClassSpec]:
    """The 13 synthetic classes with their ground-truth cue (3 appearance, 4 motion, 6 order)."""
    return list(CLASSES)


def _positions(
    kind: str, frames: int, size: int, rng: np.random.Generator, speed: int
) -> np.ndarray:
    """Top-left object positions ``(T, 2)`` as integer (x, y) on the torus of side ``size``."""
    origin = rng.integers(0, size, 2)
    t = np.arange(frames)[:, None]
    if kind == "still":
        offsets = np.zeros((frames, 2), dtype=np.int64)
    elif kind in ("shake_horizontal", "shake_vertical"):
        amplitude = size // 6
        jumps = rng.integers(-amplitude, amplitude + 1, frames)
        axis = 0 if kind == "shake_horizontal" else 1
        offsets = np.zeros((frames, 2), dtype=np.int64)
        offsets[:, axis] = jumps
    elif kind == "teleport":
        offsets = rng.integers(0, size, (frames, 2))
    elif kind in VELOCITIES:
        offsets = t * speed * np.asarray(VELOCITIES[kind])
    else:
        raise ValueError(f"unknown motion {kind!r}")
    return (origin + offsets) % size


def render(
    name: str, rng: np.random.Generator, frames: int = 32, size: int = 64, speed: int = 2
) -> np.ndarray:
    """Render one video of class ``name``.

    Args:
        name: A class of :func:`class_specs`.
        rng: Source of all randomness (texture, size, position, motion, brightness).
        frames: Number of frames T.
        size: Side of the square canvas in pixels.
        speed: Pixels per frame of the order classes.

    Returns:
        uint8 array ``(T, size, size, 3)``, RGB.

    >>> clip = render("still", np.random.default_rng(0), frames=4, size=32)
    >>> clip.shape, bool((clip == clip[0]).all())
    ((4, 32, 32, 3), True)
    """
    # Static background: a coarse random grey texture, identical in every frame.
    cells = max(size // 8, 1)
    coarse = rng.uniform(35, 85, (cells, cells))
    background = np.kron(coarse, np.ones((size // cells + 1, size // cells + 1)))[:size, :size]
    video = np.repeat(np.repeat(background[None, :, :, None], 3, axis=3), frames, axis=0)

    side = int(rng.choice([size // 4, size // 3]))
    pattern = rng.uniform(0.55, 1.0, (4, 4))
    texture = np.kron(pattern, np.ones((side // 4 + 1, side // 4 + 1)))[:side, :side]
    brightness = rng.uniform(170, 255)
    tint = np.asarray(TINTS.get(name, (1.0, 1.0, 1.0)))
    patch = texture[:, :, None] * brightness * tint  # (side, side, 3)

    if name in TINTS:
        kind = str(rng.choice([*MOTIONS, *VELOCITIES]))
    else:
        kind = name
    pos = _positions(kind, frames, size, rng, speed)
    ys = (pos[:, 1, None] + np.arange(side)) % size  # (T, side)
    xs = (pos[:, 0, None] + np.arange(side)) % size
    t = np.arange(frames)[:, None, None]
    video[t, ys[:, :, None], xs[:, None, :]] = patch
    return np.clip(np.rint(video), 0, 255).astype(np.uint8)


FAMILY = Family(
    name="squares",
    description=(
        "One textured square on a static textured background, on a torus. Appearance: the "
        "square's colour (its motion drawn from every motion of the family); motion: still, "
        "random jumps along x or y, teleport (exchangeable frames); order: constant-velocity "
        "translation in three reverse pairs (right/left, down/up, diagonal)."
    ),
    classes=CLASSES,
    render=render,
    smoke=("red_object", "green_object", "still", "teleport", "move_right", "move_left"),
)
