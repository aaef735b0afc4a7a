"""Synthetic controls: a Kinetics-layout dataset whose per-class cue is known.

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

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from motionprobe.io import write_csv, write_json
from motionprobe.types import SPLITS, ClassSpec, kinetics_filename

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


def synthesize(
    out: str | Path,
    train_per_class: int = 40,
    val_per_class: int = 8,
    test_per_class: int = 20,
    frames: int = 32,
    size: int = 64,
    fps: float = 25.0,
    speed: int = 2,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    progress: bool = True,
) -> Path:
    """Write the synthetic controls as a Kinetics-layout dataset.

    Writes ``{out}/{split}/{label}/{id}_000000_{end:06d}.mp4`` (h264), ``{split}.csv`` with the
    Kinetics columns, ``classes.json`` (the ground truth, see DESIGN.md) and ``synth.json`` (the
    parameters). The result depends only on the arguments: video ``i`` of class ``c`` in split
    ``s`` is drawn from its own generator seeded by ``(seed, c, s, i)``. The folder is built beside
    ``out`` and renamed into place, so a killed run leaves no half dataset.

    Args:
        out: Dataset root; must not exist yet (or be empty).
        train_per_class: Videos per class in ``train``; likewise ``val``/``test``.
        frames: Frames per video.
        size: Side of the square frames.
        fps: Frame rate written to the files.
        speed: Pixels per frame of the order classes.
        seed: Seed of everything.
        classes: Subset of class names (default: all of :func:`class_specs`).
        progress: Show a progress bar.

    Returns:
        The dataset root.
    """
    from motionprobe.video import write_video

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: already exists and is not empty")
    specs = class_specs()
    if classes is not None:
        unknown = sorted(set(classes) - {s.name for s in specs})
        if unknown:
            raise ValueError(f"unknown synthetic classes {unknown}")
        specs = [s for s in specs if s.name in set(classes)]
    counts = {"train": train_per_class, "val": val_per_class, "test": test_per_class}
    index = {s.name: i for i, s in enumerate(class_specs())}
    end = int(np.ceil(frames / fps))

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        jobs = [(split, s, i) for split in SPLITS for s in specs for i in range(counts[split])]
        rows = []
        for split, spec, i in tqdm(jobs, desc="synth", disable=not progress, unit="video"):
            rng = np.random.default_rng([seed, index[spec.name], SPLITS.index(split), i])
            video = render(spec.name, rng, frames=frames, size=size, speed=speed)
            youtube_id = f"syn{index[spec.name]:02d}{split[:2]}{i:05d}"
            name = kinetics_filename(youtube_id, 0, end)
            write_video(staging / split / spec.name / name, video, fps=fps, crf=10)
            rows.append((spec.name, youtube_id, 0, end, split))
        table = pd.DataFrame(
            rows, columns=["label", "youtube_id", "time_start", "time_end", "split"]
        )
        for split in SPLITS:
            write_csv(staging / f"{split}.csv", table[table["split"] == split])
        (staging / "classes.json").write_text(json.dumps([asdict(s) for s in specs], indent=2))
        params = dict(
            train_per_class=train_per_class,
            val_per_class=val_per_class,
            test_per_class=test_per_class,
            frames=frames,
            size=size,
            fps=fps,
            speed=speed,
            seed=seed,
            classes=[s.name for s in specs],
        )
        write_json(staging / "synth.json", params)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out


def load_cues(root: str | Path) -> dict[str, str]:
    """``{class: cue}`` from a dataset's ``classes.json``; empty if the file is absent."""
    path = Path(root) / "classes.json"
    if not path.is_file():
        return {}
    return {entry["name"]: entry["cue"] for entry in json.loads(path.read_text())}


#: The smoke-test controls: one class per cue kind plus a reverse pair, small and short, so a
#: whole study runs in seconds (``--smoke``).
SMOKE = dict(
    train_per_class=6,
    val_per_class=2,
    test_per_class=4,
    frames=16,
    size=32,
    classes=("red_object", "green_object", "still", "teleport", "move_right", "move_left"),
)


def default_dataset(root: str | Path, smoke: bool = False, progress: bool = True) -> Path:
    """The embedded default of the studies: the synthetic controls at ``root``, made if missing.

    Args:
        root: Dataset root; reused when it already holds a dataset (``classes.json``).
        smoke: The tiny :data:`SMOKE` controls instead of the full default.
        progress: Show a progress bar while synthesising.

    Returns:
        ``root``.
    """
    root = Path(root)
    if not (root / "classes.json").is_file():
        synthesize(root, progress=progress, **(SMOKE if smoke else {}))
    return root
