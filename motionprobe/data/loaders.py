"""Datasets and loaders of one split, as training, evaluation and the probes all build them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from motionprobe.data.kinetics import VideoDataset, collate
from motionprobe.data.layouts import data_root, load_index
from motionprobe.rawframes import FLOW_BOUND
from motionprobe.transforms import ClipTransform, Preset
from motionprobe.types import BadItem, VideoError
from motionprobe.video import probe, set_decoder_threads


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
    uint8: bool = False,
) -> tuple[VideoDataset, list[BadItem]]:
    """The dataset of pixel-unit clips ``(3, T, crop, crop)`` of one split.

    ``cache`` keeps decoded videos in memory (see :class:`~motionprobe.data.VideoDataset`);
    ``"auto"`` turns it on when the split's decoded frames would fit in ``CACHE_BYTES``. With a
    ``modality`` that has flow, items also carry ``flow`` ``(2, T, crop, crop)`` in pixels, read
    from ``flow_cache`` (made over ``root``) or computed on frames resized to the preset's short
    side, or read from a frame folder's flow frames (quantised with ``flow_bound``).
    ``truncated`` is the policy for truncated videos (:class:`VideoDataset`). ``uint8`` keeps
    RGB clips uint8 where their values are integers (:class:`~motionprobe.transforms.ClipTransform`)
    for a consumer that normalises on its device (:meth:`~motionprobe.transforms.Preset.normalize`).

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
        transform=ClipTransform(preset, train=train, flip=flip, seed=seed, uint8=uint8),
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
    pin_memory: bool = False,
    threads: int | None = None,
    **dataset_kwargs,
) -> tuple[DataLoader, VideoDataset, list[BadItem]]:
    """A DataLoader of pixel-unit clips ``(B, 3, T, crop, crop)`` over :func:`make_dataset`.

    Its sampler is an :class:`EpochSampler` (this rank's share, shuffled per epoch when
    ``train``). With the decoded-video cache on, decoding happens in the main process (workers
    would each hold a copy of the cache). Each worker's video decoders share the cores with the
    other workers' (:func:`decoder_threads`; ``threads`` sets it). ``pin_memory`` (for a CUDA
    device) hands batches over in page-locked memory, so copies to the GPU can overlap compute.
    A training loader's workers persist across epochs (no restart, and each keeps the headers it
    probed): the sampler's indices carry their epoch to them (:class:`EpochIndex`).

    Returns:
        The loader, its dataset and the items the index already found bad.
    """
    dataset, bad = make_dataset(
        root, split, classes, preset, frames, train, seed=seed, **dataset_kwargs
    )
    sampler = EpochSampler(len(dataset), shuffle=train, seed=seed, rank=rank, world=world)
    num_workers = 0 if dataset.cache else workers
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        # Training loaders persist (one start per run, not per epoch); evaluation loaders, read
        # once or once per epoch, release their processes after each pass.
        persistent_workers=num_workers > 0 and train,
        worker_init_fn=_DecoderThreads(threads or decoder_threads(num_workers))
        if num_workers
        else None,
        # Its own generator: worker seeds never draw from the global RNG that dropout uses, so a
        # resumed run's global RNG stream is the uninterrupted run's.
        generator=torch.Generator().manual_seed(seed),
    )
    return loader, dataset, bad


def decoder_threads(workers: int) -> int:
    """Threads per video decoder in each of ``workers`` loader processes: their share of the
    cores this process may use (at least 1), so that workers do not oversubscribe the cores
    with FFmpeg's default of a thread per core each; 0 (FFmpeg's choice) without workers."""
    if workers < 1:
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // workers)


class _DecoderThreads:
    """A DataLoader ``worker_init_fn`` setting the worker's decoder threads (picklable, so it
    also works where workers are spawned)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __call__(self, worker_id: int) -> None:
        set_decoder_threads(self.count)


class EpochIndex(int):
    """An item index that carries its epoch to the loader worker that fetches it.

    A persistent worker holds its own copy of the dataset, which ``set_epoch`` in the main
    process never reaches; :class:`~motionprobe.data.kinetics.VideoDataset` takes the epoch from
    the index instead.
    """

    epoch: int

    def __new__(cls, index: int, epoch: int) -> EpochIndex:
        obj = super().__new__(cls, index)
        obj.epoch = int(epoch)
        return obj

    def __reduce__(self):
        return EpochIndex, (int(self), self.epoch)


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
        return (EpochIndex(i, self.epoch) for i in self.order()[self.skip :].tolist())

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
