"""Diving48: ``Diving48_V2_{train,test}.json`` (``vid_name``, ``label``, ``start_frame``,
``end_frame``), videos at ``{root}/rgb/{vid_name}.mp4``, class names from ``Diving48_vocab.json``.

The vocabulary lists each class's take-off, somersaults, twists and flight position; a class is
named by them joined with spaces (``Back 15som 05Twis FREE``), or ``class_07`` without the file.
``start_frame`` and ``end_frame`` become the record's segment (frames ``start_frame ..
end_frame - 1``: ``end_frame`` counts frames, as the published conversions read it). The V1 files
(``Diving48_{train,test}.json``) are read when the V2 ones are absent; Diving48 has no val split.
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
LABEL_FOLDERS = (".", "annotations", "labels")
#: Where the videos may be, relative to the root.
VIDEO_FOLDERS = ("rgb", "videos", ".")


def _split_file(root: Path, split: str) -> Path | None:
    for folder in LABEL_FOLDERS:
        for name in (f"Diving48_V2_{split}.json", f"Diving48_{split}.json"):
            if (root / folder / name).is_file():
                return root / folder / name
    return None


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e})") from e


def diving48_classes(root: str | Path, count: int = 48) -> list[str]:
    """Class names in label order, from ``Diving48_vocab.json`` (``class_NN`` without it)."""
    root = Path(root)
    vocab = next(
        (root / f / "Diving48_vocab.json" for f in LABEL_FOLDERS
         if (root / f / "Diving48_vocab.json").is_file()),
        None,
    )  # fmt: skip
    if vocab is None:
        return [f"class_{k:02d}" for k in range(count)]
    entries = _read_json(vocab)
    return [" ".join(map(str, e)) if isinstance(e, list) else str(e) for e in entries]


def diving48_index(root: str | Path, split: str, label_map: LabelMap = None) -> DatasetIndex:
    """Index a Diving48 split (``train`` or ``test``).

    Returns:
        Records with their segments, in file order; ``bad`` lists entries without a video, with
        a label outside the vocabulary, or with a malformed frame range.
    """
    root = Path(root)
    path = _split_file(root, split)
    if path is None:
        raise FileNotFoundError(f"{root}: no Diving48_V2_{split}.json in {LABEL_FOLDERS}")
    entries = _read_json(path)
    classes = _resolve_label_map(label_map) or diving48_classes(root)
    folders = [root / f for f in VIDEO_FOLDERS if (root / f).is_dir()]
    cache = _DirCache()
    records: list[VideoRecord] = []
    bad: list[BadItem] = []
    for entry in entries:
        vid = str(entry.get("vid_name", ""))
        found = next((p for f in folders if (p := cache.find(f, vid)) is not None), None)
        where = str(found or root / VIDEO_FOLDERS[0] / f"{vid}.mp4")
        label = entry.get("label")
        try:
            segment = (int(entry.get("start_frame", 0)), int(entry["end_frame"]))
        except (KeyError, TypeError, ValueError):
            segment = None  # the whole file
        if not isinstance(label, int) or not 0 <= label < len(classes):
            source = _label_map_name(label_map) if label_map is not None else "the vocabulary"
            bad.append(BadItem(vid, where, f"label {label!r} not a class of {source}"))
        elif segment is not None and segment[0] >= segment[1]:
            bad.append(BadItem(vid, where, f"empty frame range {segment[0]}..{segment[1]}"))
        elif found is None:
            bad.append(BadItem(vid, where, f"missing file: no {vid}.* in {VIDEO_FOLDERS}"))
        else:
            records.append(VideoRecord(found, classes[label], vid, split, segment))
    return DatasetIndex(records, classes, bad)


def _index(root: Path, split: str | None, label_map: LabelMap, fold: int | None) -> DatasetIndex:
    require_split(root, "Diving48", split, ("train", "test"))
    return diving48_index(root, split, label_map)


LAYOUT = register_layout(
    Layout(
        "diving48",
        "Diving48_V2_train.json or Diving48_V2_test.json in the root, annotations/ or labels/",
        lambda root: any(_split_file(root, s) is not None for s in ("train", "test")),
        _index,
        priority=10,
    )
)
