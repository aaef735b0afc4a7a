"""Synthetic controls written as a Kinetics-layout dataset whose per-class answer is known.

The videos come from a control family (:mod:`motionprobe.data.families`: ``squares``, the default,
``spin`` and ``swarm``, each designed independently). ``classes.json`` holds the ground truth of
every class on every verdict axis: its cue, whether one frame suffices, whether the order of the
frames matters, and the verdict that follows.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from motionprobe.data.families import AXES_BY_CUE, get_family, ground_truth
from motionprobe.data.layouts import data_root
from motionprobe.io import hide_bars, write_csv, write_json
from motionprobe.types import SPLITS, ClassSpec, kinetics_filename
from motionprobe.video import write_video


def class_specs(family: str = "squares") -> list[ClassSpec]:
    """The classes of a control family with their ground-truth cue."""
    return list(get_family(family).classes)


def synthesize(
    out: str | Path,
    train_per_class: int = 40,
    val_per_class: int = 8,
    test_per_class: int = 20,
    frames: int = 32,
    size: int = 64,
    fps: float = 25.0,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    progress: bool = True,
    family: str = "squares",
) -> Path:
    """Write the synthetic controls as a Kinetics-layout dataset.

    Writes ``{out}/{split}/{label}/{id}_000000_{end:06d}.mp4`` (h264), ``{split}.csv`` with the
    Kinetics columns, ``classes.json`` (the ground truth, see docs/design.md) and ``synth.json``
    (the parameters). The result depends only on the arguments: video ``i`` of class ``c`` in split
    ``s`` is drawn from its own generator seeded by ``(seed, c, s, i)``. The folder is built beside
    ``out`` and renamed into place, so a killed run leaves no half dataset.

    Args:
        out: Dataset root; must not exist yet (or be empty).
        train_per_class: Videos per class in ``train``; likewise ``val``/``test``.
        frames: Frames per video.
        size: Side of the square frames.
        fps: Frame rate written to the files.
        seed: Seed of everything.
        classes: Subset of class names (default: all of the family's).
        progress: Show a progress bar.
        family: The control family (:data:`~motionprobe.data.families.FAMILIES`).

    Returns:
        The dataset root.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: already exists and is not empty")
    fam = get_family(family)
    specs = list(fam.classes)
    if classes is not None:
        unknown = sorted(set(classes) - {s.name for s in specs})
        if unknown:
            raise ValueError(f"unknown classes {unknown} of the {family!r} family")
        specs = [s for s in specs if s.name in set(classes)]
    counts = {"train": train_per_class, "val": val_per_class, "test": test_per_class}
    index = {s.name: i for i, s in enumerate(fam.classes)}
    end = int(np.ceil(frames / fps))

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        jobs = [(split, s, i) for split in SPLITS for s in specs for i in range(counts[split])]

        def make(job: tuple) -> tuple:
            split, spec, i = job
            rng = np.random.default_rng([seed, index[spec.name], SPLITS.index(split), i])
            video = fam.render(spec.name, rng, frames, size)
            youtube_id = f"syn{index[spec.name]:02d}{split[:2]}{i:05d}"
            name = kinetics_filename(youtube_id, 0, end)
            write_video(staging / split / spec.name / name, video, fps=fps, crf=10)
            return (spec.name, youtube_id, 0, end, split)

        # Two threads: encoding releases the GIL, and every video has its own generator, so
        # the files do not depend on the order they are made in (1.5-1.9x on 2 cores).
        with ThreadPoolExecutor(min(2, os.cpu_count() or 1)) as pool:
            made = pool.map(make, jobs)
            hide = hide_bars(progress)
            rows = list(tqdm(made, total=len(jobs), desc="synth", unit="video", disable=hide))
        table = pd.DataFrame(
            rows, columns=["label", "youtube_id", "time_start", "time_end", "split"]
        )
        for split in SPLITS:
            write_csv(staging / f"{split}.csv", table[table["split"] == split])
        write_json(staging / "classes.json", [ground_truth(s) for s in specs])
        params = dict(
            family=family,
            train_per_class=train_per_class,
            val_per_class=val_per_class,
            test_per_class=test_per_class,
            frames=frames,
            size=size,
            fps=fps,
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
    path = data_root(root) / "classes.json"
    if not path.is_file():
        return {}
    return {entry["name"]: entry["cue"] for entry in json.loads(path.read_text())}


def load_truth(root: str | Path) -> pd.DataFrame:
    """The ground truth of a synthetic dataset: ``classes.json`` as a table.

    Columns ``name, cue, reverse_partner, description, sufficient, order, verdict``; datasets
    written before the axes were recorded get them from their cues. Empty if the file is absent.
    """
    path = data_root(root) / "classes.json"
    cols = ["name", "cue", "reverse_partner", "description", "sufficient", "order", "verdict"]
    if not path.is_file():
        return pd.DataFrame(columns=cols)
    rows = [{**AXES_BY_CUE[e["cue"]], **e} for e in json.loads(path.read_text())]
    return pd.DataFrame(rows).reindex(columns=cols)


#: The smoke-test controls: the family's six smoke classes (one per cue kind plus a reverse
#: pair), small and short, so a whole study runs in seconds (``--smoke``).
SMOKE = dict(train_per_class=6, val_per_class=2, test_per_class=4, frames=16, size=32)


def default_dataset(
    root: str | Path, smoke: bool = False, progress: bool = True, family: str = "squares"
) -> Path:
    """The embedded default of the studies: the synthetic controls at ``root``, made if missing.

    Args:
        root: Dataset root; reused when it already holds a dataset (``classes.json``).
        smoke: The tiny :data:`SMOKE` controls instead of the full default.
        progress: Show a progress bar while synthesising.
        family: The control family.

    Returns:
        ``root``.
    """
    root = Path(root)
    if not (root / "classes.json").is_file():
        extra = dict(SMOKE, classes=get_family(family).smoke) if smoke else {}
        synthesize(root, progress=progress, family=family, **extra)
    return root
