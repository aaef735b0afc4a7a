"""Training and evaluation: one process or many under ``torchrun``, AMP, exact resume.

A run folder holds ``config.json`` (the resolved config and environment), ``metrics.csv`` (one row
per epoch), ``tensorboard/`` (event files), ``bad_items.csv`` (videos skipped, with the reason) and
``checkpoints/{last,best}.pt``. ``last.pt`` is written atomically every ``checkpoint_every``
optimiser steps and at each epoch end, with the optimiser, scheduler, gradient scaler, RNG states
and the position inside the epoch: re-running the same command on the same folder continues
exactly where it stopped (same data order, crops, dropout masks and updates). SIGTERM saves
``last.pt`` at the next step and exits with status 143; a non-finite loss stops the run and keeps
the last good checkpoint.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DistributedDataParallel (NCCL on
GPUs, gloo on CPU); each rank takes its share of every global batch, and only rank 0 writes.
``batch_size`` is per process.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from motionprobe.data import VideoDataset, collate, load_index
from motionprobe.io import atomic_path, provenance, write_csv, write_json
from motionprobe.models import create_model
from motionprobe.transforms import ClipTransform, Preset
from motionprobe.types import BadItem, VideoError


@dataclass
class TrainConfig:
    """Every parameter of a training run (written to ``config.json`` and the checkpoints).

    Defaults suit the synthetic controls on a 2-core CPU; :mod:`motionprobe.recipes` holds the
    papers' settings (``TrainConfig.from_recipe("i3d_rgb_kinetics400", data=..., out=...)``).

    Attributes (beyond the obvious):
        schedule: ``onecycle`` (per step), ``cosine`` (per step), ``plateau`` (learning rate
            divided by 10 when the validation loss has not improved for ``patience`` epochs) or
            ``constant``.
        amp: ``off``, ``bf16`` or ``fp16`` (with a gradient scaler); autocast on the device.
        accumulate: Micro-batches per optimiser step.
        checkpoint_every: Also write ``last.pt`` every this many optimiser steps (0: epoch ends).
        resume: Continue from ``last.pt`` when the run folder has one (else refuse to overwrite).
    """

    model: str = "c3d_tiny"
    data: str = ""
    out: str = ""
    epochs: int = 30
    batch_size: int = 16
    frames: int = 16
    size: int | None = None
    resize: int | None = None
    fps: float | None = None
    lr: float = 4e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    flip: bool = False
    short: str = "loop"
    label_map: str | None = None
    workers: int = 1
    cache: str = "auto"
    device: str = "cpu"
    seed: int = 0
    weights: str | None = None
    flow_cache: str | None = None
    flow_method: str = "tvl1"
    momentum: float = 0.9
    schedule: str = "onecycle"
    patience: int = 2
    amp: str = "off"
    accumulate: int = 1
    checkpoint_every: int = 0
    resume: bool = True
    recipe: str | None = None
    model_kwargs: dict = field(default_factory=dict)

    @classmethod
    def from_recipe(cls, name: str, **overrides) -> TrainConfig:
        """A named recipe (:mod:`motionprobe.recipes`) with some fields overridden."""
        from motionprobe.recipes import recipe

        return cls(**{**recipe(name), "recipe": name, **overrides})


def _bad_frame(bad: list[BadItem]) -> pd.DataFrame:
    rows = {(b.video_id, b.path, b.reason) for b in bad}
    return pd.DataFrame(sorted(rows), columns=["video_id", "path", "reason"])


def save_checkpoint(
    path: Path, model: nn.Module, classes: list[str], config: dict, **extra
) -> None:
    """Atomically write the checkpoint dict of DESIGN.md (loadable with ``weights_only=True``)."""
    state = {
        "model": model.config["name"],
        "model_kwargs": model.config["kwargs"],
        "num_classes": model.config["num_classes"],
        "classes": list(classes),
        "preset": model.preset.to_dict(),
        "presets": {k: v.to_dict() for k, v in model.presets.items()},
        "config": config,
        "state_dict": model.state_dict(),
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a model from a checkpoint, in ``eval()`` mode.

    Returns:
        The model (with ``model.preset`` from the checkpoint) and the checkpoint dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    ckpt = torch.load(path, map_location=device, weights_only=True)
    kwargs = dict(ckpt["model_kwargs"])
    for key, value in kwargs.items():  # JSON-like round trip turns tuples into lists.
        if isinstance(value, list):
            kwargs[key] = tuple(value)
    model = create_model(ckpt["model"], ckpt["num_classes"], **kwargs)
    model.load_state_dict(ckpt["state_dict"])
    if "presets" in ckpt:
        model.presets = {k: Preset.from_dict(v) for k, v in ckpt["presets"].items()}
    else:
        model.preset = Preset.from_dict(ckpt["preset"])
    return model.to(device).eval(), ckpt


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
) -> tuple[VideoDataset, list[BadItem]]:
    """The dataset of pixel-unit clips ``(3, T, crop, crop)`` of one split.

    ``cache`` keeps decoded videos in memory (see :class:`~motionprobe.data.VideoDataset`);
    ``"auto"`` turns it on when the split's decoded frames would fit in ``CACHE_BYTES``. With a
    ``modality`` that has flow, items also carry ``flow`` ``(2, T, crop, crop)`` in pixels, read
    from ``flow_cache`` (made over ``root``) or computed on frames resized to the preset's short
    side.

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
        flow_root=root,
        flow_method=flow_method,
        flow_short_side=preset.short_side,
        num_crops=num_crops,
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
    from motionprobe.video import probe

    for record in records[:5]:
        try:
            info = probe(record.path)
        except VideoError:
            continue
        return float(info.num_frames) * info.width * info.height * 3 * len(records)
    return float("inf")


def modality_of(model: nn.Module) -> str:
    """The dataset modality a model's inputs need: ``rgb``, ``flow`` or ``rgb+flow``."""
    inputs = tuple(getattr(model, "inputs", ("rgb",)))
    return "rgb+flow" if len(inputs) > 1 else inputs[0]


def model_inputs(model: nn.Module, batch: dict, device: str) -> tuple[torch.Tensor, ...] | None:
    """A collated batch as the model's normalised positional inputs (None if nothing is good)."""
    key = {"rgb": "video", "flow": "flow"}
    tensors = [batch[key[name]] for name in getattr(model, "inputs", ("rgb",))]
    if any(t is None for t in tensors):
        return None
    return model.normalize(*(t.to(device) for t in tensors))


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: str = "cpu",
    progress: bool = True,
    amp: str = "off",
) -> dict:
    """Accuracy and mean cross-entropy of ``model`` over ``loader`` (summed over ranks).

    Returns:
        ``{"loss", "acc", "n", "bad": list[BadItem]}``.
    """
    model.eval()
    loss_sum, correct, n, bad = 0.0, 0, 0, []
    for batch in tqdm(loader, desc="eval", leave=False, disable=not progress):
        bad += batch["bad"]
        inputs = model_inputs(model, batch, device)
        if inputs is None:
            continue
        y = batch["label"].to(device)
        with _autocast(device, amp):
            logits = model(*inputs).float()
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    if _world() > 1:
        totals = torch.tensor([loss_sum, correct, n], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(totals)
        loss_sum, correct, n = totals[0].item(), int(totals[1].item()), int(totals[2].item())
        bad = _gather(bad)
    return {"loss": loss_sum / max(n, 1), "acc": correct / max(n, 1), "n": n, "bad": bad}


def _world() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _gather(items: list) -> list:
    """Concatenate a list over ranks (every rank gets the whole)."""
    parts: list = [None] * _world()
    torch.distributed.all_gather_object(parts, items)
    return [x for part in parts for x in part]


def _autocast(device: str | torch.device, amp: str):
    if amp == "off":
        return nullcontext()
    if amp not in ("bf16", "fp16"):
        raise ValueError(f"amp must be off, bf16 or fp16, got {amp!r}")
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def _setup_distributed(device: str) -> tuple[int, int, str]:
    """Join the process group when started by torchrun: ``(rank, world, device)``."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world == 1:
        return 0, 1, device
    dist = torch.distributed
    cuda = device.startswith("cuda")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), world, device


class _Stop:
    """SIGTERM sets a flag; the loop saves ``last.pt`` at the next step boundary and exits."""

    def __init__(self) -> None:
        self.requested = False
        self.previous = None

    def __enter__(self) -> _Stop:
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r} (sgd or adamw)")


def _scheduler(config: TrainConfig, opt: torch.optim.Optimizer, steps: int, last: int = -1):
    """The schedule and whether it steps per optimiser step (else per epoch on val loss)."""
    if config.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, config.lr, total_steps=steps, last_epoch=last
        )
        return sched, True
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps), True
    if config.schedule == "plateau":
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=0.1, patience=config.patience
        )
        return plateau, False
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0), True
    raise ValueError(f"unknown schedule {config.schedule!r}")


def train(config: TrainConfig, progress: bool = True) -> dict:
    """Train ``config.model`` on ``config.data`` (splits ``train``/``val``/``test``).

    Keeps ``checkpoints/last.pt`` and ``best.pt`` (best validation accuracy), writes
    ``metrics.csv``, TensorBoard events and ``bad_items.csv``, and finally evaluates ``best.pt``
    on ``test`` if that split exists. Resumes exactly from ``last.pt`` when the run folder has one.

    Returns:
        The final metrics: ``best_val_acc``, ``test_acc``, ``epochs``, ``bad_items``, paths.

    Raises:
        FloatingPointError: The loss became non-finite (``last.pt`` keeps the last good state).
        SystemExit: Status 143 after SIGTERM, once ``last.pt`` is saved.
    """
    rank, world, device = _setup_distributed(config.device)
    main = rank == 0
    progress = progress and main
    out = Path(config.out)
    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / "last.pt"
    if last.is_file() and not config.resume:
        raise FileExistsError(f"{last} exists; resume (the default) or use a new --out")
    torch.manual_seed(config.seed)

    train_index = load_index(config.data, "train", label_map=config.label_map)
    classes = train_index.classes
    sizes = {"frames": config.frames, "size": config.size, "short_side": config.resize}
    kwargs = {k: v for k, v in sizes.items() if v} | config.model_kwargs
    model = create_model(config.model, len(classes), weights=config.weights, **kwargs)
    model = model.to(device)
    torch.manual_seed(config.seed + rank)  # ranks draw different dropout masks
    net = model
    if world > 1:
        ids = [torch.device(device).index] if device.startswith("cuda") else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    loader_args = dict(
        preset=model.preset,
        frames=config.frames,
        batch_size=config.batch_size,
        fps=config.fps,
        short=config.short,
        label_map=config.label_map,
        workers=config.workers,
        seed=config.seed,
        cache=config.cache,
        modality=modality_of(model),
        flow_cache=config.flow_cache,
        flow_method=config.flow_method,
        rank=rank,
        world=world,
    )
    train_loader, train_set, bad = make_loader(
        config.data, "train", classes, train=True, flip=config.flip, **loader_args
    )
    val_loader, _, val_bad = make_loader(config.data, "val", classes, train=False, **loader_args)
    bad += val_bad
    sampler: EpochSampler = train_loader.sampler
    accumulate = max(int(config.accumulate), 1)
    batches = math.ceil(len(sampler) / config.batch_size)
    steps_per_epoch = math.ceil(batches / accumulate)
    steps = max(config.epochs * steps_per_epoch, 1)

    opt = _optimizer(config, model)
    sched, per_step = _scheduler(config, opt, steps)
    scaler = torch.amp.GradScaler(torch.device(device).type, enabled=config.amp == "fp16")
    cfg = asdict(config) | {
        "classes": classes,
        "preset": model.preset.to_dict(),
        "world_size": world,
        "device_resolved": device,
        "environment": _environment(device) | provenance(train_set.records, config.seed),
    }

    start_epoch, skip_batches, best_acc, history, partial = 0, 0, -1.0, [], None
    if last.is_file():
        state = torch.load(last, map_location=device, weights_only=True)
        if state["config"]["model"] != config.model or state["classes"] != classes:
            raise ValueError(
                f"{last}: made for model {state['config']['model']!r} with "
                f"{len(state['classes'])} classes, not {config.model!r} with {len(classes)}; "
                "use a new --out"
            )
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        best_acc, history = state["best_val_acc"], state["history"]
        if state.get("batches_done") is None:  # an epoch end
            start_epoch = state["epoch"] + 1
        else:  # mid-epoch: the same epoch, after the batches already done
            start_epoch, skip_batches = state["epoch"], state["batches_done"]
            partial = state["partial"]
            bad += [BadItem(*b) for b in state.get("bad", [])]
        sched_state = state["scheduler"]
        if not per_step or sched_state.get("total_steps", steps) == steps:
            sched.load_state_dict(sched_state)
        else:  # more epochs asked for than first planned: the same schedule, stretched
            done = min(start_epoch * steps_per_epoch, steps) - 1
            sched, _ = _scheduler(config, opt, steps, last=done)
        rng = state["rng"]
        torch.set_rng_state(rng[rank] if rank < len(rng) else rng[0])
        if progress:
            where = f"epoch {start_epoch + 1}, batch {skip_batches}" if partial else "epoch end"
            print(f"resuming {out} at {where}")
    if main:
        write_json(out / "config.json", cfg)
        if progress:
            print(json.dumps({k: cfg[k] for k in asdict(config)}, default=str))
    writer = _tensorboard(out / "tensorboard") if main else None

    def save_last(epoch: int, batches_done: int | None, sums: dict | None) -> None:
        rng = _gather([torch.get_rng_state()]) if world > 1 else [torch.get_rng_state()]
        if main:
            save_checkpoint(
                last,
                model,
                classes,
                cfg,
                epoch=epoch,
                batches_done=batches_done,
                partial=sums,
                bad=[[b.video_id, b.path, b.reason] for b in bad],
                history=history,
                best_val_acc=best_acc,
                optimizer=opt.state_dict(),
                scheduler=sched.state_dict(),
                scaler=scaler.state_dict(),
                rng=rng,
            )

    step = start_epoch * steps_per_epoch + skip_batches // accumulate
    with _Stop() as stop:
        for epoch in range(start_epoch, config.epochs):
            net.train()
            train_set.set_epoch(epoch)
            skip = skip_batches if epoch == start_epoch else 0
            sampler.set_epoch(epoch, skip=skip * config.batch_size)
            sums = partial if (partial and epoch == start_epoch) else None
            sums = dict(sums or {"loss": 0.0, "correct": 0, "n": 0, "bad": 0, "seconds": 0.0})
            t0 = time.time() - sums["seconds"]
            bar = tqdm(
                train_loader,
                desc=f"epoch {epoch + 1}/{config.epochs}",
                initial=skip,
                total=batches,
                disable=not progress,
            )
            for i, batch in enumerate(bar, start=skip):
                bad += batch["bad"]
                sums["bad"] += len(batch["bad"])
                inputs = model_inputs(model, batch, device)
                boundary = (i + 1) % accumulate == 0 or i + 1 == batches
                if inputs is not None:
                    y = batch["label"].to(device)
                    sync = boundary or world == 1
                    with nullcontext() if sync else net.no_sync(), _autocast(device, config.amp):
                        logits = net(*inputs).float()
                        loss = nn.functional.cross_entropy(logits, y)
                    finite = torch.isfinite(loss).all()
                    if world > 1:
                        flag = torch.tensor([0.0 if finite else 1.0], device=device)
                        torch.distributed.all_reduce(flag)
                        finite = flag.item() == 0
                    if not finite:
                        raise FloatingPointError(
                            f"non-finite loss at epoch {epoch + 1}, batch {i + 1} of {out}; "
                            f"stopping (the last good checkpoint is {last}); lower the "
                            "learning rate or check the data"
                        )
                    scaler.scale(loss / accumulate).backward()
                    sums["loss"] += loss.item() * len(y)
                    sums["correct"] += (logits.argmax(1) == y).sum().item()
                    sums["n"] += len(y)
                if not boundary:
                    continue
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
                if per_step:
                    sched.step()
                step += 1
                elapsed = time.time() - t0
                if sums["n"] and progress:
                    bar.set_postfix(
                        loss=f"{sums['loss'] / sums['n']:.3f}",
                        acc=f"{sums['correct'] / sums['n']:.3f}",
                        clips_s=f"{sums['n'] * world / max(elapsed, 1e-9):.1f}",
                    )
                if writer is not None and inputs is not None:
                    writer.add_scalar("train/loss", loss.item(), step)
                    writer.add_scalar("train/lr", opt.param_groups[0]["lr"], step)
                stopping = stop.requested
                if world > 1:
                    flag = torch.tensor([float(stopping)], device=device)
                    torch.distributed.all_reduce(flag)
                    stopping = flag.item() > 0
                if stopping or (config.checkpoint_every and step % config.checkpoint_every == 0):
                    sums["seconds"] = time.time() - t0
                    if i + 1 < batches:
                        save_last(epoch, i + 1, dict(sums))
                    if stopping:
                        if i + 1 == batches:
                            save_last(epoch, i + 1, dict(sums))
                        if main:
                            print(f"stopped by SIGTERM; resume with the same command ({last})")
                        sys.exit(143)
            bar.close()
            val = evaluate(model, val_loader, device, progress, config.amp)
            bad += val["bad"]
            if not per_step:
                sched.step(val["loss"])
            seconds = time.time() - t0
            n_global = sums["n"] * world
            row = {
                "epoch": epoch + 1,
                "train_loss": sums["loss"] / max(sums["n"], 1),
                "train_acc": sums["correct"] / max(sums["n"], 1),
                "val_loss": val["loss"],
                "val_acc": val["acc"],
                "lr": opt.param_groups[0]["lr"],
                "seconds": seconds,
                "clips_per_s": n_global / max(seconds, 1e-9),
                "bad_items": sums["bad"] + len(val["bad"]),
            }
            history.append(row)
            if main:
                write_csv(out / "metrics.csv", pd.DataFrame(history))
                if writer is not None:
                    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "clips_per_s"):
                        writer.add_scalar(f"epoch/{key}", row[key], epoch + 1)
                    writer.flush()
                if val["acc"] > best_acc:
                    save_checkpoint(
                        ckpt_dir / "best.pt", model, classes, cfg, epoch=epoch, metrics=row
                    )
            best_acc = max(best_acc, val["acc"])
            save_last(epoch, None, None)
            if stop.requested:
                sys.exit(143)
    if writer is not None:
        writer.close()

    result = {
        "best_val_acc": best_acc,
        "epochs": config.epochs,
        "checkpoint": str(ckpt_dir / "best.pt"),
    }
    if world > 1:
        torch.distributed.barrier()  # best.pt is complete before any rank reads it
    if (Path(config.data) / "test.csv").is_file() or (Path(config.data) / "test").is_dir():
        best, ckpt = load_checkpoint(ckpt_dir / "best.pt", device)
        test_loader, _, test_bad = make_loader(
            config.data, "test", classes, train=False, **loader_args
        )
        test = evaluate(best, test_loader, device, progress, config.amp)
        bad += test_bad + test["bad"]
        result["test_acc"] = test["acc"]
        result["test_n"] = test["n"]
        ckpt["metrics"] = {**ckpt.get("metrics", {}), "test_acc": test["acc"]}
        if main:
            save_checkpoint(
                ckpt_dir / "best.pt",
                best,
                classes,
                cfg,
                epoch=ckpt["epoch"],
                metrics=ckpt["metrics"],
            )
    table = _bad_frame(bad)
    result["bad_items"] = len(table)
    if main:
        write_csv(out / "bad_items.csv", table)
        write_json(out / "result.json", result)
    return result


def _environment(device: str) -> dict:
    env = {
        "device": device,
        "threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


def _tensorboard(folder: Path):
    """A TensorBoard event writer (tensorboardX), or None when it is not installed."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:  # optional at run time; the dependency is declared
        return None
    return SummaryWriter(str(folder))


@torch.inference_mode()
def predict_views(
    model: nn.Module,
    loader: DataLoader,
    device: str = "cpu",
    amp: str = "off",
    progress: bool = True,
) -> tuple[pd.DataFrame, np.ndarray, list[BadItem]]:
    """Logits of every view (clip x crop) a loader yields.

    Returns:
        A table (``video_id``, ``label``, ``clip_index``, ``crop_index``), float32 logits
        ``(views, num_classes)`` in the same order, and the bad items.
    """
    model.eval()
    rows, logits, bad = [], [], []
    for batch in tqdm(loader, desc="views", leave=False, disable=not progress):
        bad += batch["bad"]
        inputs = model_inputs(model, batch, device)
        if inputs is None:
            continue
        with _autocast(device, amp):
            logits.append(model(*inputs).float().cpu().numpy())
        for vid, lab, clip, crop in zip(
            batch["video_id"],
            batch["label"].tolist(),
            batch["clip_index"].tolist(),
            batch["crop_index"].tolist(),
            strict=True,
        ):
            rows.append((vid, lab, clip, crop))
    table = pd.DataFrame(rows, columns=["video_id", "label", "clip_index", "crop_index"])
    width = logits[0].shape[1] if logits else 0
    return table, (np.concatenate(logits) if logits else np.zeros((0, width), np.float32)), bad


def topk_correct(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Whether each row's label is among its ``k`` largest logits: bool ``(N,)``."""
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return (top == labels[:, None]).any(1)


def evaluate_checkpoints(
    checkpoints: list[str | Path],
    data: str | Path,
    out: str | Path,
    split: str = "test",
    num_clips: int = 10,
    num_crops: int = 3,
    batch_size: int = 16,
    device: str = "cpu",
    workers: int = 0,
    label_map: str | None = None,
    flow_cache: str | None = None,
    fusion: str = "logits",
    progress: bool = True,
) -> dict:
    """Clip- and video-level accuracy of one checkpoint, or the late fusion of two.

    Every video is seen as ``num_clips`` evenly spaced clips x ``num_crops`` crops along the
    long side; a view's prediction is its logits, a video's the average of its views' logits.
    Two checkpoints (e.g. RGB and flow I3D) are fused per view by summing logits (``fusion=
    "logits"``, as the released two-stream I3D does) or averaging softmax scores
    (``"softmax"``), on the views both could read.

    Writes to ``out``: ``summary.json`` (clip and video top-1/top-5, counts), ``per_class.csv``
    (class, videos, video top-1, clip top-1), ``confusion.csv`` (true class x predicted class,
    videos), ``predictions.csv`` (per video: label, prediction, top-1, top-5) and
    ``bad_items.csv``.

    Returns:
        The summary dict.
    """
    from motionprobe.models.layers import fuse

    if not 1 <= len(checkpoints) <= 2:
        raise ValueError(f"give one checkpoint or two to fuse, got {len(checkpoints)}")
    out = Path(out)
    tables, all_logits, bad, classes = [], [], [], None
    for path in checkpoints:
        model, ckpt = load_checkpoint(path, device)
        if classes is not None and list(ckpt["classes"]) != classes:
            raise ValueError(f"{path}: its classes differ from {checkpoints[0]}'s; cannot fuse")
        classes = list(ckpt["classes"])
        cfg = ckpt["config"]
        loader, _, index_bad = make_loader(
            data,
            split,
            classes,
            model.preset,
            frames=int(cfg.get("frames", model.frames)),
            batch_size=batch_size,
            train=False,
            fps=cfg.get("fps"),
            num_clips=num_clips,
            short=cfg.get("short", "loop"),
            label_map=label_map,
            workers=workers,
            modality=modality_of(model),
            flow_cache=flow_cache or cfg.get("flow_cache"),
            flow_method=cfg.get("flow_method", "tvl1"),
            num_crops=num_crops,
        )
        table, logits, view_bad = predict_views(model, loader, device, progress=progress)
        tables.append(table)
        all_logits.append(logits)
        bad += index_bad + view_bad
    table, logits = tables[0], all_logits[0]
    if len(tables) == 2:
        keys = ["video_id", "clip_index", "crop_index"]
        a = tables[0].reset_index().rename(columns={"index": "ia"})
        b = tables[1][keys].reset_index().rename(columns={"index": "ib"})
        both = a.merge(b, on=keys)
        fused = fuse(
            torch.from_numpy(all_logits[0][both["ia"].to_numpy()]),
            torch.from_numpy(all_logits[1][both["ib"].to_numpy()]),
            fusion,
        )
        table, logits = both.drop(columns=["ia", "ib"]), fused.numpy()
    labels = table["label"].to_numpy()
    videos = table.assign(row=np.arange(len(table))).groupby("video_id", sort=False)
    video_ids = list(videos.groups)
    video_logits = np.stack([logits[idx].mean(0) for idx in videos["row"].apply(list)])
    video_labels = videos["label"].first().to_numpy()
    pred = video_logits.argmax(1)
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (video_labels, pred), 1)
    clip_top1 = logits.argmax(1) == labels
    per_class = pd.DataFrame(
        {
            "class": classes,
            "videos": confusion.sum(1),
            "video_top1": np.diag(confusion) / np.maximum(confusion.sum(1), 1),
            "clip_top1": [
                clip_top1[labels == c].mean() if (labels == c).any() else np.nan for c in range(k)
            ],
        }
    )
    predictions = pd.DataFrame(
        {
            "video_id": video_ids,
            "label": [classes[i] for i in video_labels],
            "pred": [classes[i] for i in pred],
            "top1": pred == video_labels,
            "top5": topk_correct(video_logits, video_labels, 5),
        }
    )
    summary = {
        "checkpoints": [str(c) for c in checkpoints],
        "fusion": fusion if len(checkpoints) == 2 else None,
        "split": split,
        "views_per_video": f"{num_clips} clips x {num_crops} crops",
        "clip_top1": float(clip_top1.mean()) if len(labels) else float("nan"),
        "clip_top5": float(topk_correct(logits, labels, 5).mean()) if len(labels) else float("nan"),
        "video_top1": float(predictions["top1"].mean()),
        "video_top5": float(predictions["top5"].mean()),
        "views": len(table),
        "videos": len(predictions),
        "bad_items": len(_bad_frame(bad)),
        "out": str(out),
    }
    write_json(out / "summary.json", summary)
    write_csv(out / "per_class.csv", per_class)
    write_csv(
        out / "confusion.csv",
        pd.DataFrame(confusion, index=classes, columns=classes).rename_axis("true").reset_index(),
    )
    write_csv(out / "predictions.csv", predictions)
    write_csv(out / "bad_items.csv", _bad_frame(bad))
    return summary


def config_from_json(path: str | Path) -> TrainConfig:
    """Read a ``config.json`` written by :func:`train` back into a :class:`TrainConfig`."""
    data = json.loads(Path(path).read_text())
    fields = TrainConfig.__dataclass_fields__
    return TrainConfig(**{k: v for k, v in data.items() if k in fields})


def two_stream_checkpoint(
    rgb: str | Path, flow: str | Path, out: str | Path, fusion: str = "logits"
) -> Path:
    """Join separately trained RGB and flow I3D checkpoints into one Two-Stream I3D checkpoint.

    Quo Vadis trains the two streams separately and sums their logits at test time; the result
    loads with :func:`load_checkpoint` like any other model (``forward(rgb, flow, stream=)``).

    Args:
        rgb: Checkpoint of an ``i3d_rgb*`` model.
        flow: Checkpoint of the matching ``i3d_flow*`` model (same classes, width and clip).
        out: Path of the new checkpoint.
        fusion: ``logits`` (sum) or ``softmax`` (see :class:`~motionprobe.models.i3d.I3DTwoStream`).

    Returns:
        ``out``.
    """
    rgb_model, rgb_ckpt = load_checkpoint(rgb)
    flow_model, flow_ckpt = load_checkpoint(flow)
    if list(rgb_ckpt["classes"]) != list(flow_ckpt["classes"]):
        raise ValueError(f"{rgb} and {flow}: trained on different classes; cannot fuse")
    if rgb_ckpt["model"].replace("rgb", "") != flow_ckpt["model"].replace("flow", ""):
        raise ValueError(f"{rgb} ({rgb_ckpt['model']}) and {flow} ({flow_ckpt['model']}) differ")
    name = rgb_ckpt["model"].replace("i3d_rgb", "i3d_two_stream")
    kwargs = dict(rgb_ckpt["model_kwargs"])
    kwargs.pop("modality", None)
    model = create_model(name, rgb_ckpt["num_classes"], fusion=fusion, **kwargs)
    model.rgb.load_state_dict(rgb_model.state_dict())
    model.flow.load_state_dict(flow_model.state_dict())
    model.presets = {**rgb_model.presets, **flow_model.presets}
    config = {
        **rgb_ckpt["config"],
        "model": name,
        "flow_method": flow_ckpt["config"].get("flow_method"),
        "streams": {"rgb": str(rgb), "flow": str(flow)},
    }
    metrics = {"rgb": rgb_ckpt.get("metrics", {}), "flow": flow_ckpt.get("metrics", {})}
    save_checkpoint(Path(out), model, rgb_ckpt["classes"], config, metrics=metrics)
    return Path(out)
