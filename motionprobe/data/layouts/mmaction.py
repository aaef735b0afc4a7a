"""MMAction2 list files: ``*_{split}_list_videos.txt`` and ``*_{split}_list_rawframes.txt``.

Video lists have ``path label`` lines, or ``path start end label`` for a clip of an untrimmed
video (frames ``start .. end - 1`` at the native rate). Rawframe lists have ``folder
total_frames label`` lines, or ``folder offset total_frames label`` (MMAction2's
``with_offset``), naming folders of ``img_00001.jpg`` frames (:mod:`motionprobe.rawframes`),
with denseflow's ``flow_x``/``flow_y`` frames as their flow. Paths are relative to the root, or
to ``videos_{split}/``, ``videos/``, ``rawframes_{split}/`` or ``rawframes/`` below it. Labels
are 0-based numbers; names come from the label map, else a ``label_map*.txt`` or
``classInd.txt`` beside the list (one name per line, or ``k name`` lines), else ``class_K``.
A name with ``split_K`` (``ucf101_train_split_2_videos.txt``) is official split ``K``
(``mmaction@2:ROOT``).
"""

from __future__ import annotations

import re
from pathlib import Path

from motionprobe.data.kinetics import DatasetIndex, LabelMap, _resolve_label_map, load_label_map
from motionprobe.data.layouts.base import Layout, register_layout
from motionprobe.types import BadItem, VideoRecord

#: Where the list files may be, relative to the root.
LIST_FOLDERS = (".", "annotations")
_SPLIT_WORDS = {"train": ("train",), "val": ("val", "validation"), "test": ("test",)}


def _lists(root: Path, split: str) -> list[Path]:
    """The split's list files, sorted (several: one per official split)."""
    found = []
    for folder in LIST_FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for p in base.glob("*.txt"):
            name = p.name.lower()
            kind = name.endswith(("videos.txt", "rawframes.txt"))
            words = name[: -len(".txt")].replace("-", "_").split("_")
            if kind and any(w in words for w in _SPLIT_WORDS.get(split, (split,))):
                found.append(p)
    return sorted(found)


def _pick(files: list[Path], fold: int | None) -> Path:
    """The list to read: video lists before rawframe lists, and among lists tagged
    ``split_K`` the one of ``fold`` (default 1)."""
    videos = [p for p in files if p.name.lower().endswith("videos.txt")]
    pool = videos or files
    tagged = [p for p in pool if re.search(r"split_?\d", p.name.lower())]
    if not tagged and fold is None:
        return pool[0]
    tag = f"split_{fold or 1}"
    match = [p for p in tagged if re.search(rf"split_?{fold or 1}(?!\d)", p.name.lower())]
    if not match:
        raise FileNotFoundError(f"no list file with {tag} among {[p.name for p in pool]}")
    return match[0]


def _classes(list_file: Path, label_map: LabelMap, labels: list[int]) -> list[str]:
    given = _resolve_label_map(label_map)
    if given is not None:
        return given
    beside = sorted(list_file.parent.glob("label_map*.txt")) + [list_file.parent / "classInd.txt"]
    for path in beside:
        if path.is_file():
            return load_label_map(path)
    return [f"class_{k}" for k in range(max(labels, default=-1) + 1)]


def _base(root: Path, split: str, rel: str) -> Path:
    """The folder the list's relative paths start from (where its first entry is)."""
    for folder in (".", f"videos_{split}", "videos", f"rawframes_{split}", "rawframes"):
        if (root / folder / rel).exists():
            return root / folder
    return root


def _parse(line: str, rawframes: bool) -> tuple[str, tuple[int, int] | None, int]:
    """``(path, segment, label)`` of one line; raises ValueError when it is malformed."""
    parts = line.split()
    numbers = [int(x) for x in parts[1:]]
    if rawframes and len(numbers) == 2:  # folder total label
        return parts[0], None, numbers[1]
    if rawframes and len(numbers) == 3:  # folder offset total label
        return parts[0], (numbers[0], numbers[0] + numbers[1]), numbers[2]
    if not rawframes and len(numbers) == 1:  # path label
        return parts[0], None, numbers[0]
    if not rawframes and len(numbers) == 3:  # path start end label
        return parts[0], (numbers[0], numbers[1]), numbers[2]
    raise ValueError("expected 'path label' or 'path start end label' (video) or 'folder "
                     "total label' or 'folder offset total label' (rawframes)")  # fmt: skip


def mmaction_index(
    root: str | Path, split: str, label_map: LabelMap = None, fold: int | None = None
) -> DatasetIndex:
    """Index one split of MMAction2 list files (see the module docstring).

    Returns:
        Records in list order; ``bad`` lists malformed lines, labels outside the classes,
        missing files and empty frame folders.
    """
    root = Path(root)
    files = _lists(root, split)
    if not files and split == "test":  # MMAction2 names UCF101/HMDB51's test lists "val"
        files = _lists(root, "val")
    if not files:
        raise FileNotFoundError(f"{root}: no *{split}*videos.txt or rawframes.txt list")
    list_file = _pick(files, fold)
    rawframes = list_file.name.lower().endswith("rawframes.txt")
    rows, bad = [], []
    for number, line in enumerate(list_file.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(_parse(line, rawframes))
            except ValueError as e:
                bad.append(BadItem(f"line {number}", str(list_file), f"line {number}: {e}"))
    classes = _classes(list_file, label_map, [label for _, _, label in rows])
    base = _base(root, split, rows[0][0]) if rows else root
    records = []
    for rel, segment, label in rows:
        path = base / rel
        vid = Path(rel).stem if not rawframes else Path(rel).name
        if segment is not None:
            vid = f"{vid}_{segment[0]}_{segment[1]}"
        if not 0 <= label < len(classes):
            bad.append(BadItem(vid, str(path), f"label {label} outside the {len(classes)} classes"))
        elif not path.exists():
            bad.append(BadItem(vid, str(path), f"missing file: no {path.name} under {path.parent}"))
        elif rawframes and not any(path.iterdir()):
            bad.append(BadItem(vid, str(path), "empty frame folder"))
        else:
            records.append(VideoRecord(path, classes[label], vid, split, segment))
    return DatasetIndex(records, classes, bad)


LAYOUT = register_layout(
    Layout(
        "mmaction",
        "*_train_list_videos.txt-style list files (videos.txt or rawframes.txt) in the root or "
        "annotations/",
        lambda root: any(_lists(root, s) for s in _SPLIT_WORDS),
        lambda root, split, label_map, fold: mmaction_index(root, split, label_map, fold),
        priority=15,  # before ucf101/hmdb51: their MMAction2 copies keep both kinds of files
        folds=(1, 2, 3),
    )
)
