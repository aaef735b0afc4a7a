"""Plain class folders: ``{root}/{split}/{class}/*.mp4``, or ``{root}/{class}/*.mp4`` without
a split level (then every split is the whole set; :func:`~motionprobe.data.kinetics.folder_index`).
"""

from __future__ import annotations

from pathlib import Path

from motionprobe.data.kinetics import DatasetIndex, LabelMap, _is_video, folder_index
from motionprobe.data.layouts.base import Layout, register_layout
from motionprobe.types import SPLITS


def _subfolders(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))]


def _has_class_folders(folder: Path) -> bool:
    """Whether some subfolder of ``folder`` holds a video file."""
    return any(any(_is_video(f) for f in sub.iterdir()) for sub in _subfolders(folder))


def _split_level(root: Path) -> bool:
    return any((root / s).is_dir() for s in SPLITS)


def _detect(root: Path) -> bool:
    if _split_level(root):
        return any(_has_class_folders(root / s) for s in SPLITS if (root / s).is_dir())
    return _has_class_folders(root)


def _index(root: Path, split: str | None, label_map: LabelMap, fold: int | None) -> DatasetIndex:
    """The split's class folders; without a split level, all of them for any split."""
    if split is None or not _split_level(root):
        return folder_index(root, None, label_map=label_map)
    return folder_index(root, split, label_map=label_map)


LAYOUT = register_layout(
    Layout(
        "folders",
        "class folders of videos, in train/, val/ and test/ or directly in the root",
        _detect,
        _index,
        priority=90,
    )
)
