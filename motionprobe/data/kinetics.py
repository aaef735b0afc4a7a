"""Labelled video datasets on disk: Kinetics CSVs and plain class folders, and the torch Dataset.

An *index* function turns a layout into a :class:`DatasetIndex` (records, class order, and the
rows that could not be used, each with a reason); the other layouts, and the detection of which
one a root is, are in :mod:`motionprobe.data.layouts`. :class:`VideoDataset` decodes clips of
the records; :func:`collate` batches them and lists the items that failed to decode.

Class index order comes from a label map file when one is given (see ``../shared/data/labels``),
else from the sorted class names.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, get_worker_info

from motionprobe import flow as flowlib
from motionprobe import rawframes, video
from motionprobe.data.annotations import read_kinetics_csv
from motionprobe.data.sampling import random_clip_start, uniform_clip_starts
from motionprobe.device import populate
from motionprobe.transforms import planar
from motionprobe.types import (
    MODALITIES,
    SHORT_POLICIES,
    VIDEO_EXTENSIONS,
    BadItem,
    VideoError,
    VideoInfo,
    VideoRecord,
    kinetics_filename,
)

LabelMap = str | Path | Sequence[str] | None

_INDEXED_LINE = re.compile(r"^\s*(\d+)\s+(\S.*?)\s*$")


# --------------------------------------------------------------------------------------------
# label maps


def load_label_map(path: str | Path) -> list[str]:
    """Class names in index order from a label map file.

    Accepts one class per line (blank lines skipped, whitespace stripped), ``index name`` lines
    such as UCF101's ``classInd.txt`` (sorted by index), or a JSON list of names.

    Args:
        path: The label map file.

    Returns:
        The class names; position ``i`` is class index ``i``.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it holds no classes or a class twice.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "classInd.txt"
    >>> _ = p.write_text("1 ApplyEyeMakeup\\n2 Archery\\n")
    >>> load_label_map(p)
    ['ApplyEyeMakeup', 'Archery']
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label map {path} not found")
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith(("[", "{")):
        obj = json.loads(text)
        if isinstance(obj, dict):  # {"name": index}
            names = [str(k) for k, _ in sorted(obj.items(), key=lambda kv: int(kv[1]))]
        else:
            names = [str(x).strip() for x in obj]
    else:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        matches = [_INDEXED_LINE.match(ln) for ln in lines]
        if lines and all(matches):
            pairs = sorted((int(m.group(1)), m.group(2)) for m in matches if m)
            names = [name for _, name in pairs]
        else:
            names = lines
    if not names:
        raise ValueError(f"label map {path} holds no classes")
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})
    if dupes:
        raise ValueError(f"label map {path} lists classes more than once: {dupes[:5]}")
    return names


def _resolve_label_map(label_map: LabelMap) -> list[str] | None:
    if label_map is None:
        return None
    if isinstance(label_map, (str, Path)):
        return load_label_map(label_map)
    return [str(c) for c in label_map]


def _label_map_name(label_map: LabelMap) -> str:
    if isinstance(label_map, (str, Path)):
        return str(label_map)
    return "given"


@dataclass
class DatasetIndex:
    """A dataset's usable videos, its class order and the rows that could not be used.

    Attributes:
        records: Videos found on disk whose class is known.
        classes: Class names; ``classes.index(record.label)`` is the label index.
        bad: Rows or files skipped, each with the reason.
        layout: The layout it was read as (:mod:`motionprobe.data.layouts`).
    """

    records: list[VideoRecord]
    classes: list[str]
    bad: list[BadItem] = field(default_factory=list)
    layout: str = ""

    def __len__(self) -> int:
        return len(self.records)


# --------------------------------------------------------------------------------------------
# file lookup


def _is_video(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".")


def _ext_rank(p: Path) -> int:
    return VIDEO_EXTENSIONS.index(p.suffix.lower())


class _DirCache:
    """Lists each folder once: stem -> video files (preferred extension first)."""

    def __init__(self) -> None:
        self._dirs: dict[Path, dict[str, list[Path]]] = {}

    def stems(self, folder: Path) -> dict[str, list[Path]]:
        if folder not in self._dirs:
            found: dict[str, list[Path]] = {}
            if folder.is_dir():
                for p in folder.iterdir():
                    if _is_video(p):
                        found.setdefault(p.stem, []).append(p)
            for paths in found.values():
                paths.sort(key=_ext_rank)
            self._dirs[folder] = found
        return self._dirs[folder]

    def find(self, folder: Path, stem: str) -> Path | None:
        paths = self.stems(folder).get(stem)
        return paths[0] if paths else None


def _class_folder(base: Path, label: str) -> Path:
    """``base/label``, or ``base/label_with_underscores`` when only that exists."""
    folder = base / label
    if not folder.is_dir():
        alt = base / label.replace(" ", "_")
        if alt.is_dir():
            return alt
    return folder


def _unknown(label: str, label_map: LabelMap) -> str:
    return f"unknown class {label!r} (not in label map {_label_map_name(label_map)})"


# --------------------------------------------------------------------------------------------
# layouts


def kinetics_index(
    root: str | Path,
    split: str,
    csv: str | Path | None = None,
    label_map: LabelMap = None,
) -> DatasetIndex:
    """Index a Kinetics-layout split.

    Rows of ``csv`` (default ``{root}/{split}.csv``) with ``split == split`` are looked up at
    ``{root}/{split}/{label}/{youtube_id}_{start:06d}_{end:06d}.{ext}`` for any extension in
    :data:`~motionprobe.types.VIDEO_EXTENSIONS` (``.mp4`` preferred when several exist). A class
    folder with underscores instead of spaces is accepted too. Extra columns are ignored.

    Args:
        root: Dataset root.
        split: ``train``, ``val`` or ``test``.
        csv: The split CSV; default ``{root}/{split}.csv``.
        label_map: Label map file or list of class names; default sorted CSV labels.

    Returns:
        Records in CSV order, each video once (an exact repeat of a row is dropped with a
        warning); ``bad`` lists rows whose file is missing or whose class is not in the label
        map.

    Raises:
        ValueError: If the CSV lacks a required column.
        RunError: If the CSV lists one video with two labels.

    >>> idx = kinetics_index("data/k400", "val")  # doctest: +SKIP
    """
    root = Path(root)
    csv = Path(csv) if csv is not None else root / f"{split}.csv"
    df = read_kinetics_csv(csv)
    df = df[df["split"].astype(str).str.strip() == split]
    classes = _resolve_label_map(label_map)
    known = set(classes) if classes is not None else None
    if classes is None:
        classes = sorted({str(x).strip() for x in df["label"].dropna()})
    base = root / split
    cache = _DirCache()
    folders: dict[str, Path] = {}  # one folder test per class, not per row
    records: list[VideoRecord] = []
    bad: list[BadItem] = []
    for row in df.itertuples(index=False):
        if pd.isna(row.label) or not str(row.label).strip():
            bad.append(BadItem(str(row.youtube_id), str(csv), f"row without a label in {csv}"))
            continue
        label = str(row.label).strip()
        try:
            start, end = int(float(row.time_start)), int(float(row.time_end))
        except (TypeError, ValueError):
            bad.append(
                BadItem(
                    str(row.youtube_id),
                    str(csv),
                    f"bad time_start/time_end {row.time_start!r}/{row.time_end!r} in {csv}",
                )
            )
            continue
        stem = kinetics_filename(str(row.youtube_id).strip(), start, end, ext="")
        folder = folders.get(label) or folders.setdefault(label, _class_folder(base, label))
        found = cache.find(folder, stem)
        path = str(found) if found is not None else f"{folder}{os.sep}{stem}.*"
        if known is not None and label not in known:
            bad.append(BadItem(stem, path, _unknown(label, label_map), {"label": label}))
        elif found is None:
            bad.append(
                BadItem(stem, path, f"missing file: no {stem}.* under {folder}", {"label": label})
            )
        else:
            records.append(VideoRecord(found, label, stem, split))
    return DatasetIndex(records, list(classes), bad)


def folder_index(
    root: str | Path, split: str | None = None, label_map: LabelMap = None
) -> DatasetIndex:
    """Index plain class folders ``{root}/{split}/{label}/*.{ext}`` (``{root}/{label}/*``).

    Without a split the class folders sit directly under ``root``.
    ``video_id`` is the file stem. With a label map, videos in folders of unknown classes are
    listed as bad; without one, the classes are the sorted folder names.

    Raises:
        FileNotFoundError: If the split folder does not exist.

    >>> idx = folder_index("data/ucf_frames", "train")  # doctest: +SKIP
    """
    base = Path(root) / split if split is not None else Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"dataset folder {base} not found")
    classes = _resolve_label_map(label_map)
    folders = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if classes is None:
        classes = [p.name for p in folders]
    known = set(classes)
    # folder names may use underscores for spaces
    by_folder = {c.replace(" ", "_"): c for c in classes}
    records: list[VideoRecord] = []
    bad: list[BadItem] = []
    for folder in folders:
        label = folder.name if folder.name in known else by_folder.get(folder.name, folder.name)
        for p in sorted(folder.iterdir()):
            if not _is_video(p):
                continue
            if label not in known:
                bad.append(BadItem(p.stem, str(p), _unknown(label, label_map), {"label": label}))
            else:
                records.append(VideoRecord(p, label, p.stem, split))
    return DatasetIndex(records, list(classes), bad)


# --------------------------------------------------------------------------------------------
# torch dataset


class VideoDataset(Dataset):
    """Clips of labelled videos, decoded on demand.

    ``sampling="random"`` gives one random clip per video per epoch (reproducible from ``seed``,
    the index and the epoch set by :meth:`set_epoch`); ``"uniform"`` gives ``num_clips`` evenly
    spaced clips per video (item ``i`` is clip ``i % num_clips`` of video ``i // num_clips``).

    A video that cannot be decoded does not raise and is not replaced by another: its item is
    ``{"error", "video_id", "path", "clip_index", "label"}`` and :func:`collate` lists it as bad.

    Args:
        records: The videos (e.g. ``DatasetIndex.records``).
        classes: Class names in label index order.
        frames: Frames per clip.
        fps: Resample to this frame rate; None keeps the native rate.
        sampling: ``"random"`` or ``"uniform"``.
        num_clips: Clips per video for uniform sampling.
        short: Policy for a video shorter than the clip: ``loop``, ``pad`` or ``error``.
        transform: Applied to the uint8 ``(T, H, W, 3)`` numpy clip; without it the item's
            ``video`` is a uint8 tensor ``(T, H, W, 3)``.
        seed: Base seed of random sampling.
        cache: Decode each video once, keep its frames in memory and cut clips from them
            (native frame rate only). For small datasets such as the synthetic controls, where
            decoding would otherwise dominate each epoch; with DataLoader workers each worker
            holds its own cache, so use it with ``num_workers=0``. With flow, the whole video's
            flow is kept too (computed once). Decoded videos also stay in a process-wide
            cache of :data:`SHARED_CACHE_BYTES` (least recently used out), so the next cached
            dataset of the process over the same unchanged video files does not decode them
            again (a study trains the classifier, then the generator, on the same videos).
        modality: ``rgb`` (item ``video``), ``flow`` (item ``flow``) or ``rgb+flow`` (both). A clip
            of T frames comes with the T flow fields from frame t to t + 1, so T + 1 frames must
            exist after the start (docs/design.md). The transform is called as
            ``transform(frames, flow)`` and must apply one crop and flip to both.
        flow_cache: Folder made by :func:`motionprobe.flow.extract_flow` over ``flow_root``; its
            rate must be the clips' rate. None computes flow on the fly from the decoded frames.
        flow_root: The dataset root the cache was extracted from (entries are keyed by the path
            relative to it).
        flow_method: Method for on-the-fly flow (``tvl1`` or ``farneback``).
        flow_short_side: On-the-fly flow is computed on frames resized to this short side (None:
            as decoded); set it to the model's resize so no effort goes into pixels cropped away.
        num_crops: Spatial views per clip for multi-view evaluation: item ``i`` is crop
            ``i % num_crops`` of clip ``(i // num_crops) % num_clips`` of video
            ``i // (num_clips * num_crops)``; the transform's ``view`` becomes
            ``(crop, num_crops)``.
        truncated: A truncated video (a download cut short): ``skip`` it (a bad item), or
            ``use`` the frames before its damage as the whole video; each such item then
            carries a ``note`` that :func:`collate` lists as a used :class:`BadItem`
            (:data:`motionprobe.video.TRUNCATED_POLICIES`).
        flow_bound: The bound denseflow quantised a frame folder's ``flow_x``/``flow_y`` JPEGs
            with; with a flow modality those frames are the flow (no flow is computed).

    A record's path may be a frame folder (:mod:`motionprobe.rawframes`), and a record may be a
    segment of its file (``segment``).

    A transform with an ``rng`` attribute gets a fresh generator per item, seeded by
    ``(seed, epoch, index)``: its random crops and flips do not depend on which worker, or which
    resumed run, produces the item.

    Note:
        :meth:`set_epoch` changes this object; with ``DataLoader(persistent_workers=True)`` the
        workers keep their copy, so either call it before the loader's iterator is created or
        sample :class:`~motionprobe.data.loaders.EpochIndex` indices, which carry their epoch.

    >>> index = load_index("data/synth", "train")  # doctest: +SKIP
    >>> ds = VideoDataset(index.records, index.classes, frames=16)  # doctest: +SKIP
    >>> loader = torch.utils.data.DataLoader(ds, batch_size=8, collate_fn=collate)  # doctest: +SKIP
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        classes: Sequence[str],
        frames: int = 16,
        fps: float | None = None,
        sampling: str = "random",
        num_clips: int = 1,
        short: str = "loop",
        transform: Callable[[np.ndarray], Any] | None = None,
        seed: int = 0,
        cache: bool = False,
        modality: str = "rgb",
        flow_cache: str | Path | None = None,
        flow_root: str | Path | None = None,
        flow_method: str = "tvl1",
        flow_short_side: int | None = None,
        num_crops: int = 1,
        truncated: str = "skip",
        flow_bound: float = rawframes.FLOW_BOUND,
    ) -> None:
        if truncated not in video.TRUNCATED_POLICIES:
            raise ValueError(
                f"truncated must be one of {video.TRUNCATED_POLICIES}, got {truncated!r}"
            )
        self.truncated = truncated
        self.flow_bound = float(flow_bound)
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        if flow_cache is not None and flow_root is None:
            raise ValueError("flow_cache needs flow_root, the dataset root it was extracted from")
        if cache and fps is not None:
            raise ValueError("cache keeps native-rate frames; it cannot be combined with fps")
        if sampling not in ("random", "uniform"):
            raise ValueError(f"sampling must be 'random' or 'uniform', got {sampling!r}")
        if short not in SHORT_POLICIES:
            raise ValueError(f"short must be one of {SHORT_POLICIES}, got {short!r}")
        if frames < 1 or num_clips < 1:
            raise ValueError(f"frames and num_clips must be >= 1, got {frames}, {num_clips}")
        if fps is not None and fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.records = list(records)
        self.classes = list(classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted({r.label for r in self.records if r.label not in self.class_to_idx})
        if unknown:
            raise ValueError(f"records have labels not in classes: {unknown[:5]}")
        self.frames = int(frames)
        self.fps = fps
        self.sampling = sampling
        self.num_clips = int(num_clips) if sampling == "uniform" else 1
        self.num_crops = int(num_crops)
        if self.num_crops < 1:
            raise ValueError(f"num_crops must be >= 1, got {num_crops}")
        self.short = short
        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0
        self._info: dict[str, VideoInfo | VideoError] = {}
        self.cache = cache
        self._frames: dict[str, np.ndarray] = {}
        self.modality = modality
        self.flow_cache = None if flow_cache is None else Path(flow_cache)
        self.flow_root = None if flow_root is None else Path(flow_root)
        self.flow_method = flow_method
        self.flow_short_side = flow_short_side
        self._flows: dict[str, tuple[np.ndarray, float]] = {}
        self._estimator = None
        if self.flow_cache is not None and modality != "rgb":
            self.flow_settings = flowlib.read_settings(self.flow_cache)

    def __len__(self) -> int:
        return len(self.records) * self.num_clips * self.num_crops

    def set_epoch(self, epoch: int) -> None:
        """Use a new random clip per video (random sampling); same epoch, same clips."""
        self.epoch = int(epoch)

    def info(self, path: str) -> VideoInfo:
        """Probe ``path`` once per dataset object; raises :class:`VideoError` (also cached)."""
        cached = self._info.get(path)
        if cached is None:
            try:
                is_folder = Path(path).is_dir()
                cached = (
                    rawframes.probe_frames(path) if is_folder else video.probe(path, self.truncated)
                )
            except VideoError as e:
                cached = e
            self._info[path] = cached
        if isinstance(cached, VideoError):
            raise cached
        return cached

    def available(self, info: VideoInfo) -> int:
        """Frame positions a clip may start from, at the sampling rate.

        With flow, the frame after the clip's last must exist too, so one position fewer. A
        frame folder is read at its own rate.
        """
        native = self.fps is None or info.codec == rawframes.CODEC
        total = int(info.num_frames) if native else int(np.floor(info.duration * self.fps + 1e-6))
        return total - 1 if self.modality != "rgb" else total

    def clip_start(self, index: int, info: VideoInfo) -> int:
        """Start frame (at the sampling rate) of item ``index``."""
        available = self.available(info)
        if self.sampling == "uniform":
            starts = uniform_clip_starts(available, self.frames, self.num_clips)
            return starts[(index // self.num_crops) % self.num_clips]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return random_clip_start(available, self.frames, rng)

    def __getitem__(self, index: int) -> dict[str, Any]:
        epoch = getattr(index, "epoch", None)  # an EpochIndex: this worker's copy follows it
        if epoch is not None:
            self.epoch = epoch
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        record = self.records[index // (self.num_clips * self.num_crops)]
        clip_index = (index // self.num_crops) % self.num_clips
        crop_index = index % self.num_crops
        path = str(record.path)
        label = self.class_to_idx[record.label]
        try:
            info = _segment_of(self.info(path), record)
            start = self.clip_start(index, info)
            rgb, flow = self._arrays(path, info, start)
        except VideoError as e:
            return {
                "error": e.reason,
                "video_id": record.video_id,
                "path": path,
                "clip_index": clip_index,
                "label": label,
            }
        item = {"label": label, "video_id": record.video_id, "clip_index": clip_index, "path": path}
        item["crop_index"] = crop_index
        if info.truncated:
            whole = self.info(path)  # the file's count, not a segment's
            declared = f" of the {whole.declared_frames} its header declares" * bool(
                whole.declared_frames
            )
            item["note"] = (
                f"truncated: used its {whole.num_frames} decodable frames{declared} "
                "(truncated='use')"
            )
        if hasattr(self.transform, "rng"):
            self.transform.rng = np.random.default_rng([self.seed, self.epoch, index])
        if hasattr(self.transform, "view"):
            self.transform.view = (crop_index, self.num_crops)
        if flow is None:
            item["video"] = self.transform(rgb) if self.transform else torch.from_numpy(rgb)
            return item
        if self.transform is not None:
            rgb, flow = self.transform(rgb, flow)
        else:
            rgb = None if rgb is None else torch.from_numpy(rgb)
            flow = torch.from_numpy(np.ascontiguousarray(flow))
        if rgb is not None:
            item["video"] = rgb
        item["flow"] = flow
        return item

    def _read(self, path: str, info: VideoInfo, start: int, count: int) -> np.ndarray:
        """``count`` frames from frame ``start`` (at the sampling rate), uint8 ``(n, H, W, 3)``."""
        if self.cache:
            return self._cut(path, info, start, count)
        if info.codec == rawframes.CODEC:  # a frame folder: its own rate, frames by index
            steps = self._steps(path, start, info.num_frames, count)
            return rawframes.read_frames(path, steps + info.first_frame)
        rate = self.fps if self.fps is not None else info.fps
        steps = None
        if info.first_frame or info.num_frames < self.info(path).num_frames:  # a segment
            # Its end is not the file's: the clip stops there, then the short policy applies.
            available = int(np.floor(info.num_frames / info.fps * rate + 1e-6))
            steps = self._steps(path, start, available, count)
            count = int(steps.max()) - start + 1
        frames = video.read_clip(
            path,
            count,
            start=(start / rate if rate else 0.0) + info.first_frame / info.fps,
            fps=self.fps,
            short=self.short,
            info=info,
        )
        return frames if steps is None else frames[steps - start]

    def _arrays(
        self, path: str, info: VideoInfo, start: int
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The clip's RGB frames ``(T, H, W, 3)`` and flow ``(2, T, h, w)`` its modality needs."""
        t = self.frames
        if self.modality == "rgb":
            return self._read(path, info, start, t), None
        with_rgb = self.modality == "rgb+flow"
        if self.flow_cache is None and rawframes.has_flow(path):  # denseflow's flow frames
            steps = self._steps(path, start, info.num_frames - 1, t) + info.first_frame
            rgb = self._read(path, info, start, t) if with_rgb else None
            return rgb, rawframes.read_flow(path, steps, self.flow_bound)
        if self.flow_cache is None and not self.cache:  # just this clip's flow, from T + 1 frames
            frames = self._read(path, info, start, t + 1)  # decoded once for both streams
            small = flowlib.resize_frames(frames, self.flow_short_side)
            flow = flowlib.compute_flow(small, estimator=self._flow_estimator())
            return (frames[:t] if with_rgb else None), flow
        rgb = self._read(path, info, start, t) if with_rgb else None
        fields, rate = self._whole_flow(path, info)
        clip_rate = self.fps if self.fps is not None else info.fps
        if abs(rate - clip_rate) > 1e-3 * clip_rate:
            raise VideoError(path, f"flow cache at {rate:g} fps, clips at {clip_rate:g} fps")
        whole = self.info(path)
        if (info.first_frame, info.num_frames) != (0, whole.num_frames):  # a segment's fields
            if self.fps is not None:
                raise VideoError(path, "a segment cannot be cut from flow at a resampled rate")
            fields = fields[:, info.first_frame : info.first_frame + info.num_frames - 1]
        return rgb, fields[:, self._steps(path, start, fields.shape[1], t)]

    def _flow_estimator(self):
        if self._estimator is None:
            self._estimator = flowlib.FlowEstimator(self.flow_method)
        return self._estimator

    def _whole_flow(self, path: str, info: VideoInfo) -> tuple[np.ndarray, float]:
        """A whole video's flow ``(2, N-1, h, w)`` and its rate: from the cache or computed."""
        found = self._flows.get(path)
        if found is not None:
            return found
        if self.flow_cache is not None:
            entry = flowlib.entry_path(self.flow_cache, self.flow_root, path)
            found = flowlib.load_entry(entry, self.flow_settings["bound"])
        else:
            whole = self._cut(path, self.info(path), 0, None)
            frames = flowlib.resize_frames(whole, self.flow_short_side)
            found = (flowlib.compute_flow(frames, estimator=self._flow_estimator()), info.fps)
        if self.cache:
            self._flows[path] = found
        return found

    def _cut(self, path: str, info: VideoInfo, start: int, count: int | None) -> np.ndarray:
        """``count`` frames (all if None) from ``start`` out of the cached whole video."""
        frames = self._frames.get(path)
        if frames is None:
            whole = self.info(path)
            if Path(path).is_dir():  # a frame folder: its files may change under one stat
                frames = rawframes.read_frames(path, range(whole.num_frames))
            else:
                stat = os.stat(path)
                key = (path, stat.st_mtime_ns, stat.st_size, whole.num_frames, whole.truncated)
                frames = _SHARED.get(key)
                if frames is None:
                    frames = video.read_clip(path, whole.num_frames, short="error", info=whole)
                    frames.flags.writeable = False  # shared: clips are cut as copies
                    _SHARED.put(key, frames)
            self._frames[path] = frames
        frames = frames[info.first_frame : info.first_frame + info.num_frames]
        if count is None:
            return frames
        return frames[self._steps(path, start, len(frames), count)]

    def _steps(self, path: str, start: int, available: int, count: int) -> np.ndarray:
        """Indices ``start .. start + count - 1`` into ``available`` items, by the short policy."""
        steps = np.arange(count)
        left = available - start
        if left < count:
            if self.short == "error" or left <= 0:
                raise VideoError(
                    path,
                    f"shorter than the requested clip: {max(left, 0)} frames available "
                    f"from frame {start}, {count} requested",
                )
            steps = steps % left if self.short == "loop" else np.minimum(steps, left - 1)
        return start + steps


#: Bytes of decoded videos the process keeps for its next cached dataset (see ``cache`` of
#: :class:`VideoDataset`).
SHARED_CACHE_BYTES = 1024**3


class _SharedFrames:
    """Whole decoded videos by file identity, least recently used out beyond a byte budget."""

    def __init__(self, budget: int) -> None:
        self.budget, self.bytes = budget, 0
        self.items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()  # the probe decodes its next batch in a thread

    def get(self, key: tuple) -> np.ndarray | None:
        with self.lock:
            frames = self.items.get(key)
            if frames is not None:
                self.items.move_to_end(key)
            return frames

    def put(self, key: tuple, frames: np.ndarray) -> None:
        with self.lock:
            if key in self.items or frames.nbytes > self.budget:
                return
            self.items[key] = frames
            self.bytes += frames.nbytes
            while self.bytes > self.budget:
                self.bytes -= self.items.popitem(last=False)[1].nbytes


_SHARED = _SharedFrames(SHARED_CACHE_BYTES)


def _segment_of(info: VideoInfo, record: VideoRecord) -> VideoInfo:
    """The part of a file a record's ``segment`` names, as its own video (``first_frame`` set);
    the whole file when it has no segment."""
    if record.segment is None:
        return info
    start, end = record.segment
    end = min(end, info.num_frames)
    if not 0 <= start < end:
        raise VideoError(
            record.path, f"segment {record.segment} holds no frame of its {info.num_frames}"
        )
    return dataclasses.replace(
        info, num_frames=end - start, duration=(end - start) / info.fps, first_frame=start
    )


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``torch.stack``, each clip's planes written straight into the batch (:func:`planar`); in a
    DataLoader worker, into shared memory.

    A worker's batch crosses to the main process in shared memory: stacked there (as PyTorch's
    default collate does), it is not copied again into a fresh shared block when sent, a copy
    of the whole batch (19 MB for two 64-frame 224-crop clips) saved per batch. The fresh block
    is populated in one call (:func:`~motionprobe.device.populate`) rather than a page fault
    per 4 KiB page as it is written.
    """
    first = tensors[0]
    if any(t.shape != first.shape for t in tensors):
        raise ValueError(f"clips of different shapes: {sorted({tuple(t.shape) for t in tensors})}")
    shape = (len(tensors), *first.shape)
    if get_worker_info() is None:
        out = torch.empty(shape, dtype=first.dtype)
    else:
        storage = first._typed_storage()._new_shared(len(tensors) * first.numel(), device="cpu")
        out = first.new(storage).resize_(shape)
        populate(out)
    for i, clip in enumerate(tensors):
        planar(clip, out=out[i])
    return out


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch :class:`VideoDataset` items, listing the failed ones.

    Returns:
        ``video``: stacked tensor ``(B, ...)`` of the good items (None if none is good or the
        modality has no RGB; float32 when uint8 and float32 clips meet), ``flow``: the same
        for flow clips (None without flow),
        ``label`` and ``clip_index``: LongTensor ``(B,)``, ``video_id`` and ``path``: lists, and
        ``bad``: a :class:`~motionprobe.types.BadItem` per failed item (reason, label, clip),
        then one marked ``used`` per good item with a ``note`` (a truncated video that was read).
    """
    good = [b for b in batch if "error" not in b]
    bad = [
        BadItem(
            str(b["video_id"]),
            str(b["path"]),
            str(b["error"] if "error" in b else b["note"]),
            {"label": b.get("label"), "clip_index": b.get("clip_index")},
            used="error" not in b,
        )
        for b in batch
        if "error" in b or "note" in b
    ]
    videos = [torch.as_tensor(b["video"]) for b in good if "video" in b]
    if len({v.dtype for v in videos}) > 1:  # uint8 clips beside resized float ones: same values
        videos = [v.float() for v in videos]
    flows = [torch.as_tensor(b["flow"]) for b in good if "flow" in b]
    return {
        "video": _stack(videos) if videos else None,
        "flow": _stack(flows) if flows else None,
        "label": torch.tensor([int(b["label"]) for b in good], dtype=torch.long),
        "video_id": [b["video_id"] for b in good],
        "clip_index": torch.tensor([int(b["clip_index"]) for b in good], dtype=torch.long),
        "crop_index": torch.tensor([int(b.get("crop_index", 0)) for b in good], dtype=torch.long),
        "path": [b["path"] for b in good],
        "bad": bad,
    }


#: Kowal et al. (CVPR 2022)'s Kinetics-400 class subsets, shipped with the package.
SUBSETS_FILE = Path(__file__).with_name("kinetics400_temporal_static_subsets.json")


def temporal_static_subsets(path: str | Path | None = None) -> dict[str, str]:
    """``{class: "temporal" | "static"}`` for Kowal et al.'s Kinetics-400 class subsets.

    Their 32 classes judged temporal and 32 judged static (their third, random subset is not a
    stratum and is left out).

    Args:
        path: A JSON file with ``temporal`` and ``static`` lists (default: the shipped copy).
    """
    path = Path(path) if path is not None else SUBSETS_FILE
    table = json.loads(path.read_text(encoding="utf-8"))
    return {c: kind for kind in ("temporal", "static") for c in table[kind]}
