"""UCF101: ``trainlist0K.txt`` / ``testlist0K.txt`` split files and ``classInd.txt``.

The three official splits are the folds 1-3 (``ucf101@2:/data/UCF101``; default 1). Videos sit
at ``{root}/{Class}/v_Class_gXX_cYY.avi``, or below ``UCF-101/`` or ``videos/`` (MMAction2's
layout), or flattened into one of those folders.
"""

from __future__ import annotations

from pathlib import Path

from motionprobe.data.kinetics import (
    DatasetIndex,
    LabelMap,
    _label_map_name,
    _resolve_label_map,
)
from motionprobe.data.layouts.base import Layout, register_layout, require_split
from motionprobe.types import BadItem, VideoRecord

#: Where the split files may be, relative to the root.
LIST_FOLDERS = ("ucfTrainTestlist", "annotations", "splits", ".")
#: Where the videos may be, relative to the root.
VIDEO_FOLDERS = (".", "UCF-101", "videos")


def _entries(split_file: Path, classes: list[str] | None) -> list[tuple[str, str]]:
    """``(relative path, class)`` per line: the class is the path's folder, else the line's
    1-based class number, else the name's ``v_{Class}_`` part."""
    entries = []
    for ln in split_file.read_text(encoding="utf-8-sig").splitlines():
        parts = ln.strip().replace("\\", "/").split()
        if not parts:
            continue
        rel = parts[0]
        if "/" in rel:
            label = rel.split("/")[0]
        elif len(parts) > 1 and classes is not None and parts[1].isdigit():
            number = int(parts[1])  # 1-based; 0 or past the end names no class
            label = classes[number - 1] if 1 <= number <= len(classes) else f"#{number}"
        else:
            label = rel[2:].split("_")[0] if rel.startswith("v_") else ""
        entries.append((rel, label))
    return entries


def ucf101_index(
    root: str | Path, split_file: str | Path, class_ind: LabelMap = None
) -> DatasetIndex:
    """Index a UCF101 split file (``trainlist01.txt``, ``testlist01.txt``).

    Lines are ``Class/v_Class_g08_c01.avi 1`` (train) or ``Class/v_Class_g08_c01.avi`` (test);
    videos are at ``{root}/{line path}``, or ``{base}/{line path}`` and ``{base}/{file name}``
    for a ``base`` of :data:`VIDEO_FOLDERS`. Class order comes from ``class_ind`` (a label map:
    ``classInd.txt``'s ``1 Class`` lines, or names), by default the ``classInd.txt`` beside the
    split file when it exists, else sorted names.

    >>> idx = ucf101_index("UCF101", "ucfTrainTestlist/trainlist01.txt")  # doctest: +SKIP
    """
    root, split_file = Path(root), Path(split_file)
    if not split_file.is_file():
        raise FileNotFoundError(f"UCF101 split file {split_file} not found")
    if class_ind is None and (split_file.parent / "classInd.txt").is_file():
        class_ind = split_file.parent / "classInd.txt"
    classes = _resolve_label_map(class_ind)
    name = split_file.name.lower()
    split = next((s for s in ("train", "test", "val") if name.startswith(s)), None)
    entries = _entries(split_file, classes)
    if classes is None:
        classes = sorted({label for _, label in entries if label})
    known = set(classes)
    bases = [root / f for f in VIDEO_FOLDERS if (root / f).is_dir()]
    records: list[VideoRecord] = []
    bad: list[BadItem] = []
    for rel, label in entries:
        tries = [b / rel for b in bases] + [b / Path(rel).name for b in bases]
        path = next((p for p in tries if p.is_file()), root / rel)
        vid = Path(rel).stem
        if label not in known:
            reason = f"unknown class {label!r} (not in label map {_label_map_name(class_ind)})"
            bad.append(BadItem(vid, str(path), reason, {"label": label}))
        elif not path.is_file():
            bad.append(BadItem(vid, str(path), f"missing file: no {path.name} under {path.parent}"))
        else:
            records.append(VideoRecord(path, label, vid, split))
    return DatasetIndex(records, list(classes), bad)


def _list_folder(root: Path) -> Path | None:
    """The folder of the split files, if any."""
    return next((root / f for f in LIST_FOLDERS if (root / f / "trainlist01.txt").is_file()), None)


def _index(root: Path, split: str | None, label_map: LabelMap, fold: int | None) -> DatasetIndex:
    """Split ``train`` or ``test`` of official split ``fold`` (default 1)."""
    require_split(root, "UCF101", split, ("train", "test"))
    lists = _list_folder(root)
    if lists is None:
        raise FileNotFoundError(f"{root}: no trainlist01.txt in {', '.join(LIST_FOLDERS)}")
    return ucf101_index(root, lists / f"{split}list{fold or 1:02d}.txt", label_map)


LAYOUT = register_layout(
    Layout(
        "ucf101",
        "trainlist01.txt in ucfTrainTestlist/, annotations/, splits/ or the root",
        lambda root: _list_folder(root) is not None,
        _index,
        priority=20,
        folds=(1, 2, 3),
    )
)
