"""Datasets and loaders of one split, as training, evaluation and the probes all build them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from motionprobe.data.kinetics import VideoDataset, collate
from motionprobe.data.layouts import data_root, load_index
from motionprobe.rawframes import FLOW_BOUND
from motionprobe.transforms import ClipTransform, Preset
from motionprobe.types import BadItem, VideoError
from motionprobe.video import probe


def make_dataset(
    root: str | Path,
    split: str,
    classes: list[str] | None,
    preset: Preset,
    frames: int,
    train: bool,
    fps: float | None = None,
    num_clips: int = 1,
    short: str = "loop",
    flip: bool = False,
    label_map: str | None = None,
    seed: int = 0,
    cache: str | bool = False,
    modality: str = "rgb",
    flow_cache: str | Path | None = None,
    flow_method: str = "tvl1",
    num_crops: int = 1,
    truncated: str = "skip",
    flow_bound: float = FLOW_BOUND,
) -> tuple[VideoDataset, list[BadItem]]:
    """The dataset of pixel-unit clips ``(3, T, crop, crop)`` of one split.

    ``cache`` keeps decoded videos in memory (see :class:`~motionprobe.data.VideoDataset`);
    ``"auto"`` turns it on when the split's decoded frames would fit in ``CACHE_BYTES``. With a
    ``modality`` that has flow, items also carry ``flow`` ``(2, T, crop, crop)`` in pixels, read
    from ``flow_cache`` (made over ``root``) or computed on frames resized to the preset's short
    side, or read from a frame folder's flow frames (quantised with ``flow_bound``).
    ``truncated`` is the policy for truncated videos (:class:`VideoDataset`).

    Returns:
        The dataset and the items its index already found bad (missing files, unknown classes,
        classes the model does not know).
    """
    index = load_index(root, split, label_map=label_map)
    classes = classes or index.classes
    known = set(classes)
    records = [r for r in index.records if r.label in known]
    bad = list(index.bad) + [
        BadItem(r.video_id, str(r.path), f"class {r.label!r} not among the model's classes")
        for r in index.records
        if r.label not in known
    ]
    if cache == "auto":
        cache = fps is None and _decoded_bytes(records) < CACHE_BYTES
    dataset = VideoDataset(
        records,
        classes,
        frames=frames,
        fps=fps,
        sampling="random" if train else "uniform",
        num_clips=num_clips,
        short=short,
        transform=ClipTransform(preset, train=train, flip=flip, seed=seed),
        seed=seed,
        cache=bool(cache),
        modality=modality,
        flow_cache=flow_cache,
        flow_root=data_root(root),
        flow_method=flow_method,
        flow_short_side=preset.short_side,
        num_crops=num_crops,
        truncated=truncated,
        flow_bound=flow_bound,
    )
    return dataset, bad


def make_loader(
    root: str | Path,
    split: str,
    classes: list[str] | None,
    preset: Preset,
    frames: int,
    batch_size: int,
    train: bool,
    workers: int = 0,
    seed: int = 0,
    rank: int = 0,
    world: int = 1,
    **dataset_kwargs,
) -> tuple[DataLoader, VideoDataset, list[BadItem]]:
    """A DataLoader of pixel-unit clips ``(B, 3, T, crop, crop)`` over :func:`make_dataset`.

    Its sampler is an :class:`EpochSampler` (this rank's share, shuffled per epoch when
    ``train``). With the decoded-video cache on, decoding happens in the main process (workers
    would each hold a copy of the cache).

    Returns:
        The loader, its dataset and the items the index already found bad.
    """
    dataset, bad = make_dataset(
        root, split, classes, preset, frames, train, seed=seed, **dataset_kwargs
    )
    sampler = EpochSampler(len(dataset), shuffle=train, seed=seed, rank=rank, world=world)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=0 if dataset.cache else workers,
        collate_fn=collate,
        # Its own generator: worker seeds never draw from the global RNG that dropout uses, so a
        # resumed run's global RNG stream is the uninterrupted run's.
        generator=torch.Generator().manual_seed(seed),
    )
    return loader, dataset, bad


class EpochSampler(Sampler[int]):
    """Item order of an epoch: a permutation seeded by ``(seed, epoch)``, this rank's share.

    With ``world`` ranks, global position ``i`` goes to rank ``i % world``, so the ranks' batches
    together hold the same items as one process's batch ``world`` times larger. Shuffled (train)
    orders are padded by repeating their head to a multiple of ``world``; evaluation orders are not
    padded (no item counted twice). ``skip`` drops the first items of the epoch (resume).
    """

    def __init__(self, n: int, shuffle: bool, seed: int = 0, rank: int = 0, world: int = 1):
        self.n, self.shuffle, self.seed, self.rank, self.world = n, shuffle, seed, rank, world
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Order of ``epoch``, starting after its first ``skip`` items (of this rank)."""
        self.epoch, self.skip = int(epoch), int(skip)

    def order(self) -> np.ndarray:
        """This rank's whole order for the current epoch (before ``skip``)."""
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
            if self.world > 1 and self.n % self.world:
                order = np.concatenate([order, order[: self.world - self.n % self.world]])
        else:
            order = np.arange(self.n)
        return order[self.rank :: self.world]

    def __iter__(self):
        return iter(self.order()[self.skip :].tolist())

    def __len__(self) -> int:
        return max(len(self.order()) - self.skip, 0)


#: Decoded frames a split may hold in memory when ``cache="auto"``.
CACHE_BYTES = 2 * 1024**3


def _decoded_bytes(records: list) -> float:
    """Decoded size of a list of videos, estimated from the first one that probes."""
    for record in records[:5]:
        try:
            info = probe(record.path)
        except VideoError:
            continue
        return float(info.num_frames) * info.width * info.height * 3 * len(records)
    return float("inf")
