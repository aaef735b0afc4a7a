"""The ``swarm`` family: a few small blobs moving in polar coordinates; the background is the cue.

Every video shows 3 or 4 small soft-edged discs of random saturated colours over a static
background. Each disc ``i`` sits at radius ``rho_i`` and angle ``alpha_i`` around the canvas
centre, with ``rho`` in ``[RHO_MIN, RHO_MAX)`` (so the discs stay inside the canvas) and angles
growing clockwise on screen (image ``y`` points down). The ground truth holds exactly:

* **appearance** classes: the *background* names the class (``stripes_horizontal``,
  ``stripes_vertical``, ``checkerboard``, each with a random period, phase and contrast); it fills
  every frame, and the discs move with a motion drawn from a class-independent mixture of all the
  motions below (smooth, jerky or none).
* **motion** classes, on a background of smooth random noise shared by every motion and order
  class: ``still`` (nothing moves; the frames are identical), ``scatter`` (each disc's angle drawn
  i.i.d. per frame) and ``jitter`` (each disc's radius drawn i.i.d. per frame). Given the video's
  constants each frame is an i.i.d. draw, so the frames are exchangeable: a shuffled clip has the
  same distribution as the original and order carries nothing.
* **order** classes, in reverse-partner pairs: ``swirl_cw``/``swirl_ccw`` (every disc turns around
  the centre at one constant angular speed) and ``ripple_out``/``ripple_in`` (every radius grows or
  shrinks at one constant speed, wrapping from ``RHO_MAX`` back to ``RHO_MIN`` or the other way,
  i.e. a rotation of the radial interval seen as a circle). Reversing ``x0 + v t`` over ``t < T``
  on a circle gives ``x0' - v t`` with ``x0' = x0 + v (T - 1)``, again uniform, and the speed has
  one distribution for both members: the time reversal of a clip of A is exactly a clip of its
  partner B, and only the order tells them apart.

In every motion and order class, at every frame index, the discs' radii and angles are independent
and uniform (each moving coordinate is a uniform start shifted on its circle, or an i.i.d. uniform
redraw), and count, sizes, colours and background come from the same distributions: the marginal
distribution of any single frame is the same across all of them. Unlike the ``spin`` family there
is no camera shake, the objects are many and anti-aliased, and the appearance cue is not the object.
"""

from __future__ import annotations

import numpy as np

from motionprobe.data.families import Family
from motionprobe.types import ClassSpec

BACKGROUNDS = ("stripes_horizontal", "stripes_vertical", "checkerboard")
MOTIONS = ("still", "scatter", "jitter")
PARTNERS = {
    "swirl_cw": "swirl_ccw",
    "swirl_ccw": "swirl_cw",
    "ripple_out": "ripple_in",
    "ripple_in": "ripple_out",
}
#: Every motion the swarm can make; the appearance classes draw theirs uniformly from these.
KINDS = (*MOTIONS, *PARTNERS)

RHO_MIN, RHO_MAX = 0.12, 0.38  # radial band of the disc centres, as fractions of the side
RADIUS = (0.07, 0.1)  # disc radius, as a fraction of the side (RHO_MAX + 0.1 < 0.5: no clipping)
COUNT = (3, 4)  # discs per video, inclusive
SWIRL_SPEED = (12.0, 20.0)  # degrees per frame of swirl_*
RIPPLE_SPEED = (0.025, 0.04)  # radial steps per frame of ripple_*, as fractions of the side

CLASSES: tuple[ClassSpec, ...] = (
    ClassSpec("stripes_horizontal", "appearance", None, "horizontal stripes behind the swarm"),
    ClassSpec("stripes_vertical", "appearance", None, "vertical stripes behind the swarm"),
    ClassSpec("checkerboard", "appearance", None, "a checkerboard behind the swarm"),
    ClassSpec("still", "motion", None, "a swarm that never moves: no motion at all"),
    ClassSpec("scatter", "motion", None, "each blob at an independent random angle per frame"),
    ClassSpec("jitter", "motion", None, "each blob at an independent random radius per frame"),
    ClassSpec("swirl_cw", "order", "swirl_ccw", "the swarm turning clockwise around the centre"),
    ClassSpec("swirl_ccw", "order", "swirl_cw", "the swarm turning anticlockwise"),
    ClassSpec("ripple_out", "order", "ripple_in", "blobs drifting outwards, re-entering inside"),
    ClassSpec("ripple_in", "order", "ripple_out", "blobs drifting inwards, re-entering outside"),
)


def _background(name: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """A static ``(size, size, 3)`` float background, faintly tinted so the blobs alone are vivid.

    The appearance classes get hard-edged square-wave patterns; every other class gets smooth
    noise (white noise low-passed in Fourier space), one texture shared by all of them.
    """
    y, x = np.mgrid[:size, :size].astype(np.float64)
    period = rng.uniform(size / 6, size / 3)  # cells of 3 px or more even at 32 px
    phase = rng.uniform(0, 2 * np.pi, 2)
    contrast = rng.uniform(25, 45)
    if name == "stripes_horizontal":
        pattern = np.sign(np.sin(2 * np.pi * y / period + phase[0]))
    elif name == "stripes_vertical":
        pattern = np.sign(np.sin(2 * np.pi * x / period + phase[0]))
    elif name == "checkerboard":
        pattern = np.sign(
            np.sin(2 * np.pi * x / period + phase[0]) * np.sin(2 * np.pi * y / period + phase[1])
        )
    else:
        freq = np.fft.fftfreq(size)
        lowpass = np.exp(-(freq[:, None] ** 2 + freq[None, :] ** 2) * (size / 3) ** 2)
        noise = np.fft.ifft2(np.fft.fft2(rng.normal(size=(size, size))) * lowpass).real
        pattern = (noise - noise.mean()) / (noise.std() + 1e-12)
    grey = rng.uniform(70, 110) + contrast * pattern
    return grey[:, :, None] * rng.uniform(0.92, 1.08, 3)


def _polar(
    kind: str, frames: int, count: int, rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Radius (pixels) and angle (radians) of every disc per frame, each ``(frames, count)``.

    Every draw is made whatever ``kind`` is, so that all kinds consume the generator alike.
    """
    t = np.arange(frames)[:, None]
    lo, span = RHO_MIN * size, (RHO_MAX - RHO_MIN) * size
    rho0 = rng.uniform(0, span, count)  # offset into the radial band, itself a circle of `span`
    alpha = np.broadcast_to(rng.uniform(0, 2 * np.pi, count), (frames, count))
    swirl = np.deg2rad(rng.uniform(*SWIRL_SPEED))
    ripple = rng.uniform(*RIPPLE_SPEED) * size
    redraw = rng.uniform(0, 1, (frames, count))
    rho = np.broadcast_to(rho0, (frames, count))
    if kind == "scatter":
        alpha = 2 * np.pi * redraw
    elif kind == "jitter":
        rho = span * redraw
    elif kind in ("swirl_cw", "swirl_ccw"):
        alpha = alpha + (1 if kind == "swirl_cw" else -1) * swirl * t
    elif kind in ("ripple_out", "ripple_in"):
        rho = (rho0 + (1 if kind == "ripple_out" else -1) * ripple * t) % span
    elif kind != "still":
        raise ValueError(f"unknown motion {kind!r}")
    return lo + rho, alpha


def render(name: str, rng: np.random.Generator, frames: int = 32, size: int = 64) -> np.ndarray:
    """Render one video of class ``name``.

    Args:
        name: A class of :data:`CLASSES`.
        rng: Source of all randomness (background, count, sizes, colours, motion).
        frames: Number of frames T.
        size: Side of the square canvas in pixels (32 to 64).

    Returns:
        uint8 array ``(T, size, size, 3)``, RGB.

    >>> clip = render("still", np.random.default_rng(0), frames=4, size=32)
    >>> clip.shape, bool((clip == clip[0]).all())
    ((4, 32, 32, 3), True)
    """
    if name not in BACKGROUNDS and name not in KINDS:
        raise ValueError(f"unknown swarm class {name!r}")
    video = np.repeat(_background(name, rng, size)[None], frames, axis=0)
    count = int(rng.integers(COUNT[0], COUNT[1] + 1))
    radii = rng.uniform(*RADIUS, count) * size
    # Saturated colours of random hue: a hue wheel, then a little white mixed in and a brightness.
    hue = rng.uniform(0, 1, count)[:, None]
    wheel = np.clip(np.abs((hue * 6 + np.array([0.0, 4.0, 2.0])) % 6 - 3) - 1, 0, 1)
    sat, val = rng.uniform(0.75, 1.0, (count, 1)), rng.uniform(0.8, 1.0, (count, 1))
    colours = 255 * val * (1 - sat + sat * wheel)
    kind = str(rng.choice(KINDS)) if name in BACKGROUNDS else name
    rho, alpha = _polar(kind, frames, count, rng, size)

    centre = (size - 1) / 2
    cx = centre + rho * np.cos(alpha)  # (T, count)
    cy = centre + rho * np.sin(alpha)
    frame = np.arange(frames)[:, None, None]
    window = np.arange(int(np.ceil(2 * RADIUS[1] * size)) + 3)  # covers a disc and its rim
    for i in range(count):  # painted in a fixed order, so overlaps are alike in every class
        # Only a small window around each disc is touched: gather it, blend, scatter it back.
        rows = np.floor(cy[:, i] - radii[i] - 1).astype(int)[:, None] + window  # (T, w)
        cols = np.floor(cx[:, i] - radii[i] - 1).astype(int)[:, None] + window
        dist = np.hypot(
            rows[:, :, None] - cy[:, i, None, None], cols[:, None] - cx[:, i, None, None]
        )
        # Coverage of a one-pixel ramp at the rim: sub-pixel moves change the image smoothly.
        cover = np.clip(radii[i] + 0.5 - dist, 0, 1)[..., None]
        index = frame, rows[:, :, None] % size, cols[:, None, :] % size  # wrap: cover is 0 there
        video[index] = video[index] * (1 - cover) + cover * colours[i]
    return np.clip(np.rint(video), 0, 255).astype(np.uint8)


FAMILY = Family(
    name="swarm",
    description=(
        "Three to five small soft-edged discs of random saturated colours, placed in polar "
        "coordinates around the centre over a static background. Appearance classes are named "
        "by the background (horizontal stripes, vertical stripes, checkerboard) and the discs "
        "move with a random motion of the family; motion and order classes share a smooth-noise "
        "background and are still, scatter (i.i.d. angle per frame) or jitter (i.i.d. radius "
        "per frame) with exchangeable frames, or swirl around the centre or ripple outwards or "
        "inwards (wrapping in the radial band) at a constant speed, in reverse pairs whose "
        "reversed clips are exactly clips of the partner. Radii and angles are uniform and "
        "independent in every frame of every motion and order class, so single frames carry "
        "no class signal there."
    ),
    classes=CLASSES,
    render=render,
    smoke=("stripes_horizontal", "checkerboard", "still", "scatter", "swirl_cw", "swirl_ccw"),
)
