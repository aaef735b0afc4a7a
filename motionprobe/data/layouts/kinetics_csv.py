"""Kinetics: ``{root}/{split}.csv`` (``label, youtube_id, time_start, time_end, split``) and
``{root}/{split}/{label}/{youtube_id}_{start:06d}_{end:06d}.mp4`` (what ``motionprobe synth``
writes too; :func:`~motionprobe.data.kinetics.kinetics_index`)."""

from __future__ import annotations

from pathlib import Path

from motionprobe.data.kinetics import DatasetIndex, LabelMap, folder_index, kinetics_index
from motionprobe.data.layouts.base import Layout, register_layout
from motionprobe.types import SPLITS


def _index(root: Path, split: str | None, label_map: LabelMap, fold: int | None) -> DatasetIndex:
    """The split's CSV; a split with class folders but no CSV is read as class folders."""
    if split is not None and (root / f"{split}.csv").is_file():
        return kinetics_index(root, split, label_map=label_map)
    if split is not None and (root / split).is_dir():
        return folder_index(root, split, label_map=label_map)
    have = sorted(p.name for p in root.glob("*.csv"))
    raise FileNotFoundError(f"{root}: no {split}.csv (its split CSVs: {', '.join(have)})")


LAYOUT = register_layout(
    Layout(
        "kinetics",
        "train.csv, val.csv or test.csv in the root",
        lambda root: any((root / f"{s}.csv").is_file() for s in SPLITS),
        _index,
        priority=60,
    )
)
