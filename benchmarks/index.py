"""Indexing a Kinetics-400-sized split, and what its dataset costs each DataLoader worker.

Index. A split CSV of 240,000 rows over 400 classes is written with 1 % of its videos present
(empty files named as Kinetics names them; the index only looks them up), as a half-downloaded
copy is. :func:`motionprobe.data.load_index` (which lists each class folder once) is timed
against the plain approach, a ``Path.exists`` test per row and per video extension, on the same
CSV; both must find the same files. Target: under 30 s.

Memory. A :class:`~motionprobe.data.VideoDataset` over 240,000 records (all present, as on a
complete copy) is built in a fresh process, which reports the growth of its resident memory
(``VmRSS``) and the size of the pickle a spawned DataLoader worker receives. With forked workers
the dataset is shared copy-on-write, but CPython's reference counts touch its objects, so each
worker comes to hold about that much of its own. Target: under 200 MB per worker.

Run: ``python benchmarks/index.py`` (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

try:
    from motionprobe.data import VideoDataset, load_index
    from motionprobe.types import VIDEO_EXTENSIONS, VideoRecord, kinetics_filename
except ModuleNotFoundError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from motionprobe.data import VideoDataset, load_index
    from motionprobe.types import VIDEO_EXTENSIONS, VideoRecord, kinetics_filename

ROWS, CLASSES, PRESENT = 240_000, 400, 0.01


def write_split(root: Path) -> pd.DataFrame:
    """``root/train.csv`` and the 1 % of its videos that are present (empty files)."""
    rng = np.random.default_rng(0)
    classes = [f"class {k:03d}" for k in range(CLASSES)]
    frame = pd.DataFrame(
        {
            "label": [classes[k % CLASSES] for k in range(ROWS)],
            "youtube_id": [f"yt{k:09d}" for k in range(ROWS)],
            "time_start": 10,
            "time_end": 20,
            "split": "train",
        }
    )
    frame.to_csv(root / "train.csv", index=False)
    for k in np.flatnonzero(rng.random(ROWS) < PRESENT):
        row = frame.iloc[k]
        folder = root / "train" / row["label"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / kinetics_filename(row["youtube_id"], 10, 20)).touch()
    return frame


def plain_index(root: Path, frame: pd.DataFrame) -> list[Path]:
    """The baseline: one ``exists`` test per row and extension until a file is found."""
    found = []
    for row in frame.itertuples(index=False):
        stem = kinetics_filename(row.youtube_id, row.time_start, row.time_end, ext="")
        for ext in VIDEO_EXTENSIONS:
            path = root / "train" / row.label / f"{stem}{ext}"
            if path.exists():
                found.append(path)
                break
    return found


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _dataset_cost(queue: mp.Queue) -> None:
    """In a fresh process: resident growth of building the dataset, and its pickle size."""
    classes = [f"class {k:03d}" for k in range(CLASSES)]
    before = _rss_mb()
    records = [
        VideoRecord(
            Path(f"/data/k400/train/{classes[k % CLASSES]}/yt{k:09d}_000010_000020.mp4"),
            classes[k % CLASSES],
            f"yt{k:09d}_000010_000020",
            "train",
        )
        for k in range(ROWS)
    ]
    dataset = VideoDataset(records, classes, frames=64)
    queue.put((_rss_mb() - before, len(pickle.dumps(dataset)) / 2**20))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        frame = write_split(root)
        start = time.perf_counter()
        index = load_index(root, "train")
        ours = time.perf_counter() - start
        start = time.perf_counter()
        plain = plain_index(root, frame)
        baseline = time.perf_counter() - start
    assert sorted(r.path.name for r in index.records) == sorted(p.name for p in plain)
    print(
        f"index of {ROWS:,} rows ({len(index.records):,} present, {len(index.bad):,} listed "
        f"missing): load_index {ours:.1f} s, plain exists-per-row {baseline:.1f} s, ratio "
        f"{ours / baseline:.2f} (target: under 30 s) -> {'PASS' if ours < 30 else 'FAIL'}"
    )
    queue: mp.Queue = mp.get_context("spawn").Queue()
    child = mp.get_context("spawn").Process(target=_dataset_cost, args=(queue,))
    child.start()
    rss, pickled = queue.get()
    child.join()
    print(
        f"dataset of {ROWS:,} records: +{rss:.0f} MB resident, a {pickled:.0f} MB pickle per "
        f"spawned worker (target: under 200 MB) -> {'PASS' if max(rss, pickled) < 200 else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
