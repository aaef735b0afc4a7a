"""Something-Something-V2: ``labels.json`` (class -> index) and ``train.json`` /
``validation.json`` / ``test.json`` (``id``, ``template``, ``label``, ``placeholders``), videos at
``{root}/videos/{id}.webm`` (any extension; also ``20bn-something-something-v2/`` or the root).

A video's class is its template without the brackets (``Putting [something] into [something]``
is ``Putting something into something``), matched to ``labels.json`` ignoring case. The test
split's labels come from ``test-answers.csv`` (``id;class``) when it is there. The classes that
are each other's temporal reverse ship with the package (:func:`reverse_pairs`).
"""

from __future__ import annotations

import json
from pathlib import Path

from motionprobe.data.kinetics import (
    DatasetIndex,
    LabelMap,
    _DirCache,
    _label_map_name,
    _resolve_label_map,
)
from motionprobe.data.layouts.base import Layout, register_layout, require_split
from motionprobe.types import BadItem, VideoRecord

#: Where the JSON files may be, relative to the root.
LABEL_FOLDERS = ("labels", "annotations", ".")
#: Where the videos may be, relative to the root.
VIDEO_FOLDERS = ("videos", "20bn-something-something-v2", ".")
#: The split files.
SPLIT_FILES = {"train": "train.json", "val": "validation.json", "test": "test.json"}
#: The 174 class names in official index order, and the reverse pairs among them.
CLASSES_FILE = Path(__file__).parents[1] / "ssv2_classes.txt"
PAIRS_FILE = Path(__file__).parents[1] / "ssv2_reverse_pairs.json"


def ssv2_classes() -> list[str]:
    """The 174 Something-Something-V2 class names in the official index order."""
    return CLASSES_FILE.read_text(encoding="utf-8").splitlines()


def reverse_pairs(classes: list[str] | None = None) -> list[tuple[str, str]]:
    """SSv2 class pairs that are each other's temporal reverse (e.g. opening and closing).

    Args:
        classes: Keep only the pairs whose two classes are both among these.
    """
    pairs = json.loads(PAIRS_FILE.read_text(encoding="utf-8"))["pairs"]
    keep = None if classes is None else set(classes)
    return [(a, b) for a, b in pairs if keep is None or (a in keep and b in keep)]


def _label_folder(root: Path) -> Path | None:
    """The folder of ``labels.json`` and a split file, if any."""
    for folder in LABEL_FOLDERS:
        base = root / folder
        if (base / "labels.json").is_file() and any(
            (base / f).is_file() for f in SPLIT_FILES.values()
        ):
            return base
    return None


def _entries(labels: Path, split: str) -> list[tuple[str, str | None]]:
    """``(id, class or None)`` of a split file (test: from ``test-answers.csv`` if present)."""
    path = labels / SPLIT_FILES[split]
    if not path.is_file():
        raise FileNotFoundError(f"{labels}: no {SPLIT_FILES[split]} for the {split} split")
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e})") from e
    answers = labels / "test-answers.csv"
    truth = {}
    if split == "test" and answers.is_file():
        for line in answers.read_text(encoding="utf-8").splitlines():
            vid, _, name = line.partition(";")
            truth[vid.strip()] = name.strip()
    out = []
    for item in items:
        vid = str(item.get("id", ""))
        template = item.get("template")
        name = template.replace("[", "").replace("]", "") if template else truth.get(vid)
        out.append((vid, name))
    if split == "test" and all(name is None for _, name in out) and out:
        raise ValueError(f"{path}: the test split carries no labels; add test-answers.csv")
    return out


def _classes(labels: Path, label_map: LabelMap) -> list[str]:
    """Class order: the label map, else ``labels.json`` by index."""
    given = _resolve_label_map(label_map)
    if given is not None:
        return given
    try:
        table = json.loads((labels / "labels.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{labels / 'labels.json'}: not JSON ({e})") from e
    return [name for name, _ in sorted(table.items(), key=lambda kv: int(kv[1]))]


def ssv2_index(root: str | Path, split: str, label_map: LabelMap = None) -> DatasetIndex:
    """Index a Something-Something-V2 split (``train``, ``val`` or ``test``).

    Returns:
        Records in the split file's order; ``bad`` lists ids without a video, with a class not
        in the label map, or without a label.
    """
    root = Path(root)
    labels = _label_folder(root)
    if labels is None:
        raise FileNotFoundError(f"{root}: no labels.json with a split file in {LABEL_FOLDERS}")
    require_split(root, "SSv2", split, tuple(SPLIT_FILES))
    classes = _classes(labels, label_map)
    by_key = {c.casefold(): c for c in classes}
    folders = [root / f for f in VIDEO_FOLDERS if (root / f).is_dir()]
    cache = _DirCache()
    records: list[VideoRecord] = []
    bad: list[BadItem] = []
    where = ", ".join(map(str, folders))
    source = _label_map_name(label_map) if label_map is not None else "labels.json"
    for vid, name in _entries(labels, split):
        found = next((p for f in folders if (p := cache.find(f, vid)) is not None), None)
        path = str(found or (folders[0] if folders else root) / f"{vid}.webm")
        label = by_key.get(name.casefold()) if name else None
        if name is None:
            bad.append(BadItem(vid, path, f"no label for id {vid} in the {split} split"))
        elif label is None:
            reason = f"unknown class {name!r} (not in {source})"
            bad.append(BadItem(vid, path, reason, {"label": name}))
        elif found is None:
            bad.append(BadItem(vid, path, f"missing file: no {vid}.* in {where}", {"label": label}))
        else:
            records.append(VideoRecord(found, label, vid, split))
    return DatasetIndex(records, classes, bad)


LAYOUT = register_layout(
    Layout(
        "ssv2",
        "labels.json with train.json, validation.json or test.json in labels/, annotations/ "
        "or the root",
        lambda root: _label_folder(root) is not None,
        lambda root, split, label_map, fold: ssv2_index(root, split, label_map),
        priority=10,
    )
)
