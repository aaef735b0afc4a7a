"""The ``spin`` family: one rotating or orbiting object, with a class-independent camera shake.

Every video shows one flat-coloured object on a static background of smooth colour gratings. The
object's place is given in polar form around the canvas centre: an orbit phase ``phi`` puts its
centre on a circle of fixed radius, and a rotation angle ``theta`` turns it about its own centre.
On a random half of the videos, whatever the class, a hand-held camera shake shifts the whole frame
by an i.i.d. integer offset per frame (a roll with wrap; the gratings have whole numbers of cycles
across the canvas, so the roll leaves no seam, and the object never comes near an edge). Being
i.i.d., the shake is exchangeable over frames and carries no order. The ground truth holds exactly:

* **appearance** classes: the object's *shape* names the class (``disc``, ``cross``, ``ring``); it
  is visible in every frame, and none of them looks like the paddle of the other classes after a
  small rotation or zoom (a filled round disc, a four-armed plus, a hollow ring, versus one bar with
  a round knob on one end). Colour comes from a palette shared by every class, and the object's
  motion is drawn from a class-independent mixture of the orbits below and none (no spin in
  place, which a disc or ring would not show and a cross would).
* **motion** classes: the paddle, whose class is given by the *set* of frames: ``still`` (it never
  moves; only the shared shake can move the frame), ``flicker`` (an independent random rotation per
  frame) and ``hop`` (an independent random place on the orbit circle per frame). Each frame is an
  i.i.d. draw given the video's constants, so the frames are exchangeable: a shuffled clip has the
  same distribution as the original and order carries nothing.
* **order** classes, in reverse-partner pairs: ``spin_cw``/``spin_ccw`` (rotation in place at a
  constant angular speed) and ``orbit_cw``/``orbit_ccw`` (travel around the orbit circle at a
  constant angular speed, orientation fixed). Reversing ``theta0 + w t`` over ``t < T`` gives
  ``theta0' - w t`` with ``theta0' = theta0 + w (T - 1)``, again uniform on the circle; the speed is
  drawn from one distribution for both members and the reversed shake is still i.i.d. So the time
  reversal of a clip of A is exactly a clip of its partner B, and only the order tells them apart.

In every motion and order class, and at every frame index, ``phi`` and ``theta`` are independent and
uniform on the circle, and colour, size and shake come from the same distributions: the marginal
distribution of any single frame is the same across all of them. Angles grow clockwise on screen
(image ``y`` points down).
"""

from __future__ import annotations

import numpy as np

from motionprobe.data.families import Family
from motionprobe.types import ClassSpec

#: Object colours shared by every class: saturated, so the object stands out from the greyish
#: gratings whatever its shape; the brightness is further scaled per video.
PALETTE = np.array(
    [
        (230, 50, 40),
        (40, 200, 60),
        (50, 90, 240),
        (235, 215, 30),
        (220, 50, 210),
        (40, 210, 220),
        (245, 140, 20),
    ],
    dtype=np.float64,
)
SHAPES = ("disc", "cross", "ring")
MOTIONS = ("still", "flicker", "hop")
PARTNERS = {
    "spin_cw": "spin_ccw",
    "spin_ccw": "spin_cw",
    "orbit_cw": "orbit_ccw",
    "orbit_ccw": "orbit_cw",
}
#: Every motion an object can make.
KINDS = (*MOTIONS, *PARTNERS)
#: The motions of the appearance classes: an orbit either way, or none. Unlike the other
#: families, whose appearance objects also jump about, an appearance object here only ever moves
#: smoothly. It never spins in place: a spinning disc or ring looks still while a spinning cross
#: visibly turns, so spin would make the *seen* motion depend on the class and leak the shape
#: into the motion (a C3D learned `cross` partly from its turning and lost it when frozen).
APPEARANCE_KINDS = ("still", "orbit_cw", "orbit_ccw")

# ORBIT + 1.02 * SCALE[1] + (SHAKE + 0.5) / size < 0.5 for size >= 30: the object (it fits in a
# circle of 1.02 half-extents) never reaches the edge, so the shake's wrap never cuts it.
ORBIT = 0.15  # orbit radius, as a fraction of the canvas side
SCALE = (0.21, 0.26)  # object half-extent, as a fraction of the side: shapes legible at 32 px
SHAKE = 1  # largest camera-shake offset in pixels, per axis: below the order classes' steps
#: Degrees per frame of spin_*. Twice the largest (a stride-2 stem sees every other frame) stays
#: below 90, so the turn direction is unambiguous.
SPIN_SPEED = (15.0, 30.0)
ORBIT_SPEED = (15.0, 30.0)  # degrees per frame of orbit_*: >= 1.2 px a frame at 32 px, > SHAKE

CLASSES: tuple[ClassSpec, ...] = (
    ClassSpec("disc", "appearance", None, "a filled disc; motion drawn at random"),
    ClassSpec("cross", "appearance", None, "a four-armed plus; motion drawn at random"),
    ClassSpec("ring", "appearance", None, "a hollow ring; motion drawn at random"),
    ClassSpec("still", "motion", None, "a paddle that never moves (the camera may shake)"),
    ClassSpec("flicker", "motion", None, "a paddle at an independent random angle per frame"),
    ClassSpec("hop", "motion", None, "a paddle at an independent random place on a circle"),
    ClassSpec("spin_cw", "order", "spin_ccw", "a paddle spinning clockwise in place"),
    ClassSpec("spin_ccw", "order", "spin_cw", "a paddle spinning anticlockwise in place"),
    ClassSpec("orbit_cw", "order", "orbit_ccw", "a paddle travelling clockwise around a circle"),
    ClassSpec(
        "orbit_ccw", "order", "orbit_cw", "a paddle travelling anticlockwise around a circle"
    ),
)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A static ``(size, size, 3)`` float background: three smooth gratings, faintly tinted.

    Integer wave numbers make the texture periodic on the canvas, so the shake's wrapping roll
    has no seam; low saturation keeps the object the only strongly coloured thing in the frame.
    """
    y, x = np.mgrid[:size, :size] / size
    waves = rng.integers(-2, 3, (3, 2))
    waves[(waves == 0).all(1)] = (1, 0)  # a (0, 0) wave would be a flat offset, not a grating
    phases = rng.uniform(0, 2 * np.pi, 3)
    amplitudes = rng.uniform(8, 18, 3)
    angles = 2 * np.pi * (waves[:, 0, None, None] * x + waves[:, 1, None, None] * y)
    gratings = amplitudes[:, None, None] * np.cos(angles + phases[:, None, None])
    grey = rng.uniform(70, 110) + gratings.sum(0)
    tint = rng.uniform(0.92, 1.08, 3)
    return grey[:, :, None] * tint


def _mask(shape: str, u: np.ndarray, v: np.ndarray, s: float) -> np.ndarray:
    """Which points ``(u, v)`` of the object's own frame lie in ``shape`` of half-extent ``s``."""
    r2 = u * u + v * v
    if shape == "disc":
        return r2 <= (0.75 * s) ** 2
    if shape == "ring":
        return (r2 >= (0.55 * s) ** 2) & (r2 <= (0.9 * s) ** 2)
    if shape == "cross":  # arms ~3 px wide at 32 px: no blob, and a third less area than the disc
        arm_u = (np.abs(u) <= 0.95 * s) & (np.abs(v) <= 0.2 * s)
        return arm_u | ((np.abs(v) <= 0.95 * s) & (np.abs(u) <= 0.2 * s))
    # The paddle: one bar with a wider round knob at the +u end, so no rotation maps it onto itself
    # and a turn of any angle is visible.
    bar = (np.abs(u) <= s) & (np.abs(v) <= 0.22 * s)
    return bar | ((u - 0.62 * s) ** 2 + v * v <= (0.38 * s) ** 2)


def _trajectory(kind: str, frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Orbit phase ``phi`` and rotation ``theta`` per frame (radians), each ``(frames,)``.

    Every draw is made whatever ``kind`` is, so that all kinds consume the generator alike.
    """
    t = np.arange(frames)
    phi = np.full(frames, rng.uniform(0, 2 * np.pi))
    theta = np.full(frames, rng.uniform(0, 2 * np.pi))
    spin = np.deg2rad(rng.uniform(*SPIN_SPEED))
    orbit = np.deg2rad(rng.uniform(*ORBIT_SPEED))
    redraw = rng.uniform(0, 2 * np.pi, frames)
    sign = -1.0 if kind.endswith("_ccw") else 1.0
    if kind == "flicker":
        theta = redraw
    elif kind == "hop":
        phi = redraw
    elif kind.startswith("spin_"):
        theta = theta + sign * spin * t
    elif kind.startswith("orbit_"):
        phi = phi + sign * orbit * t
    elif kind != "still":
        raise ValueError(f"unknown motion {kind!r}")
    return phi, theta


def render(
    name: str,
    rng: np.random.Generator,
    frames: int = 32,
    size: int = 64,
    *,
    shake: bool | None = None,
) -> np.ndarray:
    """Render one video of class ``name``.

    Args:
        name: A class of :data:`CLASSES`.
        rng: Source of all randomness (background, colour, size, motion, shake).
        frames: Number of frames T.
        size: Side of the square canvas in pixels (32 to 64).
        shake: Force the camera shake on or off; ``None`` (the family's law) shakes a random half.

    Returns:
        uint8 array ``(T, size, size, 3)``, RGB.

    >>> clip = render("still", np.random.default_rng(0), frames=4, size=32, shake=False)
    >>> clip.shape, bool((clip == clip[0]).all())
    ((4, 32, 32, 3), True)
    """
    if name not in SHAPES and name not in KINDS:
        raise ValueError(f"unknown spin class {name!r}")
    background = _background(rng, size)
    colour = PALETTE[rng.integers(len(PALETTE))] * rng.uniform(0.8, 1.0)
    scale = rng.uniform(*SCALE) * size
    kind = str(rng.choice(APPEARANCE_KINDS)) if name in SHAPES else name
    phi, theta = _trajectory(kind, frames, rng)

    # Each pixel in the object's own frame: translate to its centre, then rotate by -theta.
    centre = (size - 1) / 2
    cx = centre + ORBIT * size * np.cos(phi)[:, None, None]
    cy = centre + ORBIT * size * np.sin(phi)[:, None, None]
    y, x = np.mgrid[:size, :size].astype(np.float64)
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    u = (x - cx) * cos + (y - cy) * sin
    v = (y - cy) * cos - (x - cx) * sin
    inside = _mask(name if name in SHAPES else "paddle", u, v, scale)
    video = np.where(inside[..., None], colour, background)

    shaken = rng.random() < 0.5  # drawn always, so forcing `shake` leaves the rest of the stream
    if shaken if shake is None else shake:
        # Roll each frame by its own i.i.d. offset: gather from (index - offset) mod size.
        dy, dx = rng.integers(-SHAKE, SHAKE + 1, (2, frames))
        rows = (np.arange(size) - dy[:, None]) % size
        cols = (np.arange(size) - dx[:, None]) % size
        video = video[np.arange(frames)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return np.clip(np.rint(video), 0, 255).astype(np.uint8)


FAMILY = Family(
    name="spin",
    description=(
        "One flat-coloured object on static smooth colour gratings, with an i.i.d. camera shake "
        "(integer roll) on a random half of the videos of every class. Appearance classes are "
        "named by the object's shape (disc, cross, ring) and move with a random motion of the "
        "family; motion and order classes show one asymmetric paddle that is still, turns to an "
        "i.i.d. angle per frame, hops to an i.i.d. place on a circle per frame (exchangeable "
        "frames), spins in place or orbits the centre at a constant speed (reverse pairs: a "
        "reversed clip is exactly a clip of the partner). Orbit phase and angle are uniform and "
        "independent in every frame of every motion and order class, so single frames carry no "
        "class signal there."
    ),
    classes=CLASSES,
    render=render,
    smoke=("disc", "cross", "still", "flicker", "spin_cw", "spin_ccw"),
)
