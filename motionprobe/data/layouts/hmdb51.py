"""HMDB51: ``{class}_test_split{K}.txt`` files (``name.avi 1|2|0``) of the three official splits.

The splits are the folds 1-3 (``hmdb51@3:/data/hmdb51``; default 1). The split files sit in
``testTrainMulti_7030_splits/``, ``splits/``, ``annotations/`` or the root; videos at
``{root}/{class}/{name}``, or below ``hmdb51_org/`` or ``videos/``.
"""

from __future__ import annotations

from pathlib import Path

from motionprobe.data.kinetics import DatasetIndex, LabelMap, _resolve_label_map, _unknown
from motionprobe.data.layouts.base import Layout, register_layout, require_split
from motionprobe.types import BadItem, VideoRecord

#: Where the split files may be, relative to the root.
LIST_FOLDERS = ("testTrainMulti_7030_splits", "splits", "annotations", ".")
#: Where the class folders may be, relative to the root.
VIDEO_FOLDERS = (".", "hmdb51_org", "videos")

_HMDB_SPLIT_CODES = {"train": 1, "test": 2, "unused": 0}


def hmdb51_index(
    root: str | Path,
    split_dir: str | Path,
    split_id: int,
    split: str,
    label_map: LabelMap = None,
) -> DatasetIndex:
    """Index an HMDB51 split from its ``{class}_test_split{k}.txt`` files.

    Lines are ``name.avi 1|2|0`` (1 train, 2 test, 0 unused); videos are at
    ``{root}/{class}/{name}`` (or below a folder of :data:`VIDEO_FOLDERS`).
    Class order: ``label_map`` when given, else sorted class names.

    Args:
        root: Folder of class folders.
        split_dir: Folder of the split files (``testTrainMulti_7030_splits``).
        split_id: Which of the three splits (1, 2 or 3).
        split: ``train``, ``test`` (or ``unused``).

    >>> idx = hmdb51_index("hmdb51", "splits", 1, "train")  # doctest: +SKIP
    """
    root, split_dir = Path(root), Path(split_dir)
    if split not in _HMDB_SPLIT_CODES:
        raise ValueError(f"split must be one of {list(_HMDB_SPLIT_CODES)}, got {split!r}")
    if not split_dir.is_dir():
        raise FileNotFoundError(f"HMDB51 split folder {split_dir} not found")
    suffix = f"_test_split{int(split_id)}.txt"
    files = sorted(p for p in split_dir.iterdir() if p.name.endswith(suffix))
    if not files:
        raise FileNotFoundError(f"no *{suffix} files in {split_dir}")
    code = str(_HMDB_SPLIT_CODES[split])
    classes = _resolve_label_map(label_map)
    if classes is None:
        classes = sorted(p.name[: -len(suffix)] for p in files)
    known = set(classes)
    records: list[VideoRecord] = []
    bad: list[BadItem] = []
    for f in files:
        label = f.name[: -len(suffix)]
        for ln in f.read_text(encoding="utf-8-sig", errors="replace").splitlines():
            parts = ln.split()
            if len(parts) < 2 or parts[-1] != code:
                continue
            name = " ".join(parts[:-1])
            path = _video(root, label, name)
            vid = Path(name).stem
            if label not in known:
                bad.append(BadItem(vid, str(path), _unknown(label, label_map), {"label": label}))
            elif not path.is_file():
                bad.append(BadItem(vid, str(path), f"missing file: no {name} under {path.parent}"))
            else:
                records.append(VideoRecord(path, label, vid, split))
    return DatasetIndex(records, list(classes), bad)


def _video(root: Path, label: str, name: str) -> Path:
    """``{base}/{label}/{name}`` for the first base of :data:`VIDEO_FOLDERS` that has it."""
    tries = [root / base / label / name for base in VIDEO_FOLDERS]
    return next((p for p in tries if p.is_file()), tries[0])


def _list_folder(root: Path) -> Path | None:
    """The folder of the split files, if any."""
    for folder in LIST_FOLDERS:
        if (root / folder).is_dir() and next((root / folder).glob("*_test_split1.txt"), None):
            return root / folder
    return None


def _index(root: Path, split: str | None, label_map: LabelMap, fold: int | None) -> DatasetIndex:
    """Split ``train`` or ``test`` of official split ``fold`` (default 1)."""
    require_split(root, "HMDB51", split, ("train", "test"))
    lists = _list_folder(root)
    if lists is None:
        raise FileNotFoundError(f"{root}: no *_test_split1.txt in {', '.join(LIST_FOLDERS)}")
    return hmdb51_index(root, lists, fold or 1, split, label_map)


LAYOUT = register_layout(
    Layout(
        "hmdb51",
        "*_test_split1.txt in testTrainMulti_7030_splits/, splits/, annotations/ or the root",
        lambda root: _list_folder(root) is not None,
        _index,
        priority=20,
        folds=(1, 2, 3),
    )
)
