"""Training and evaluation: one process or many under ``torchrun``, AMP, exact resume.

A run folder holds ``config.json`` (the resolved config and environment), ``metrics.csv`` (one row
per epoch), ``tensorboard/`` (event files), ``bad_items.csv`` (videos skipped, with the reason) and
``checkpoints/{last,best}.pt``. ``last.pt`` is written atomically every ``checkpoint_every``
optimiser steps and at each epoch end, with the optimiser, scheduler, gradient scaler, RNG states
and the position inside the epoch: re-running the same command on the same folder continues
exactly where it stopped (same data order, crops, dropout masks and updates). SIGTERM saves
``last.pt`` at the next step and exits with status 143; a non-finite loss stops the run and keeps
the last good checkpoint.

Under ``torchrun`` (even with one process) the model is wrapped in DistributedDataParallel (NCCL on
GPUs, gloo on CPU); each rank takes its share of every global batch, and only rank 0 writes.
``batch_size`` is per process.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from motionprobe.data.layouts import has_split, load_index
from motionprobe.data.loaders import make_loader
from motionprobe.device import (
    autocast,
    channels_last,
    environment,
    gather,
    setup_distributed,
)
from motionprobe.evaluate import evaluate
from motionprobe.io import (
    bad_items_frame,
    provenance,
    run_lock,
    skipped,
    write_csv,
    write_json,
)
from motionprobe.loop import optimise_epoch
from motionprobe.models import create_model
from motionprobe.models.adapter import Target, make_target
from motionprobe.models.checkpoint import load_checkpoint, save_checkpoint
from motionprobe.recipes import recipe
from motionprobe.types import BadItem, RunError


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
        flow_bound: The bound of a frame folder's denseflow flow JPEGs (denseflow ``--bound``).
        truncated: ``skip`` truncated videos (bad items) or ``use`` the frames before their
            damage (listed as used; :data:`motionprobe.video.TRUNCATED_POLICIES`).
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
    truncated: str = "skip"
    label_map: str | None = None
    workers: int = 1
    cache: str = "auto"
    device: str = "cpu"
    seed: int = 0
    weights: str | None = None
    flow_cache: str | None = None
    flow_method: str = "tvl1"
    flow_bound: float = 20.0
    momentum: float = 0.9
    schedule: str = "onecycle"
    patience: int = 2
    amp: str = "off"
    accumulate: int = 1
    checkpoint_every: int = 0
    resume: bool = True
    recipe: str | None = None
    model_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Paths as strings: a PosixPath in the config would make every checkpoint unreadable
        # under weights_only=True.
        for name in ("data", "out", "label_map", "weights", "flow_cache"):
            if isinstance(getattr(self, name), os.PathLike):
                setattr(self, name, os.fspath(getattr(self, name)))
        for name in ("epochs", "batch_size", "frames", "accumulate"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise RunError(f"{name} must be at least 1, got {value}")
        if self.lr <= 0 or self.workers < 0 or self.checkpoint_every < 0:
            raise RunError(
                f"lr must be positive and workers, checkpoint_every at least 0; got lr "
                f"{self.lr}, workers {self.workers}, checkpoint_every {self.checkpoint_every}"
            )

    @classmethod
    def from_recipe(cls, name: str, **overrides) -> TrainConfig:
        """A named recipe (:mod:`motionprobe.recipes`) with some fields overridden."""
        return cls(**{**recipe(name), "recipe": name, **overrides})


class _Stop:
    """SIGTERM sets a flag; the loop saves ``last.pt`` at the next step boundary and exits."""

    def __init__(self) -> None:
        self.requested = False
        self.previous = None

    def __enter__(self) -> _Stop:
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
    rank = int(os.environ.get("RANK", 0))
    with run_lock(config.out, "training") if rank == 0 else nullcontext():
        return _train(config, progress)


def _train(config: TrainConfig, progress: bool) -> dict:
    """:func:`train` once its folder is held."""
    run = _Run.start(config, progress)
    if run.main:
        write_json(run.out / "config.json", run.cfg)
        if run.progress:
            print(json.dumps({k: run.cfg[k] for k in asdict(config)}, default=str))
    run.writer = _tensorboard(run.out / "tensorboard") if run.main else None
    with _Stop() as stop:
        for epoch in range(run.start_epoch, config.epochs):
            sums = run.train_epoch(epoch, stop)
            run.end_epoch(epoch, sums)
            if stop.requested:
                sys.exit(143)
    if run.writer is not None:
        run.writer.close()
    result = {
        "best_val_acc": run.best_acc,
        "epochs": config.epochs,
        "checkpoint": str(run.ckpt_dir / "best.pt"),
    }
    if run.world > 1:
        torch.distributed.barrier()  # best.pt is complete before any rank reads it
    if has_split(config.data, "test", config.label_map):
        result |= run.test() | {"selected_on": run.cfg["val_split"]}
    table = bad_items_frame(run.bad)
    result["bad_items"] = skipped(table)
    if run.main:
        write_csv(run.out / "bad_items.csv", table)
        write_json(run.out / "result.json", result)
    return result


@dataclass
class _Run:
    """The state of one training run: what a step changes and what ``last.pt`` keeps."""

    config: TrainConfig
    progress: bool
    rank: int
    world: int
    device: str
    model: nn.Module
    net: nn.Module
    classes: list[str]
    loader_args: dict
    train_loader: DataLoader
    val_loader: DataLoader
    bad: list[BadItem]
    opt: torch.optim.Optimizer
    sched: object
    per_step: bool
    scaler: torch.amp.GradScaler
    cfg: dict
    steps: int
    start_epoch: int = 0
    skip_batches: int = 0
    best_acc: float = -1.0
    history: list[dict] = field(default_factory=list)
    partial: dict | None = None
    writer: object = None
    target: Target | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    @property
    def ckpt_dir(self) -> Path:
        return self.out / "checkpoints"

    @property
    def last(self) -> Path:
        return self.ckpt_dir / "last.pt"

    @property
    def accumulate(self) -> int:
        return max(int(self.config.accumulate), 1)

    @property
    def batches(self) -> int:
        return math.ceil(len(self.train_loader.sampler) / self.config.batch_size)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.batches / self.accumulate)

    @classmethod
    def start(cls, config: TrainConfig, progress: bool) -> _Run:
        """Set up the model, loaders and optimiser; continue from ``last.pt`` if there is one."""
        rank, world, device = setup_distributed(config.device)
        last = Path(config.out) / "checkpoints" / "last.pt"
        if last.is_file() and not config.resume:
            raise FileExistsError(f"{last} exists; resume (the default) or use a new --out")
        torch.manual_seed(config.seed)
        classes = load_index(config.data, "train", label_map=config.label_map).classes
        if not classes:
            raise RunError(f"{config.data}: the train split lists no videos")
        sizes = {"frames": config.frames, "size": config.size, "short_side": config.resize}
        kwargs = {k: v for k, v in sizes.items() if v} | config.model_kwargs
        model = create_model(config.model, len(classes), weights=config.weights, **kwargs)
        model = channels_last(model.to(device))
        torch.manual_seed(config.seed + rank)  # ranks draw different dropout masks
        net = model
        if world > 1 or "TORCHELASTIC_RUN_ID" in os.environ:  # torchrun, even with one process
            ids = [torch.device(device).index] if device.startswith("cuda") else None
            net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        # The adapter puts the model in eval mode; each epoch sets train mode again.
        target = make_target(model, device, classes, config.frames)
        loader_args = _loader_args(config, target, rank, world, device)
        train_loader, train_set, bad = make_loader(
            config.data, "train", classes, train=True, flip=config.flip, **loader_args
        )
        # UCF101, HMDB51 and Diving48 have no val split: their test split validates.
        if train_set.records and all(r.split is None for r in train_set.records):
            raise RunError(
                f"{config.data}: class folders without train/ and val/ folders have no "
                "separate splits to train and validate on"
            )
        val = "val" if has_split(config.data, "val", config.label_map) else "test"
        val_loader, val_set, val_bad = make_loader(
            config.data, val, classes, train=False, **loader_args
        )
        for split, dataset in (("train", train_set), (val, val_set)):
            if len(dataset) == 0:
                raise RunError(f"{config.data}: the {split} split has no usable videos")
        batches = math.ceil(len(train_loader.sampler) / config.batch_size)
        steps = max(config.epochs * math.ceil(batches / max(int(config.accumulate), 1)), 1)
        opt = _optimizer(config, model)
        sched, per_step = _scheduler(config, opt, steps)
        scaler = torch.amp.GradScaler(torch.device(device).type, enabled=config.amp == "fp16")
        cfg = asdict(config) | {
            "classes": classes,
            "preset": model.preset.to_dict(),
            "world_size": world,
            "device_resolved": device,
            "val_split": val,
            "environment": environment(device) | provenance(train_set.records, config.seed),
        }
        run = cls(config, progress and rank == 0, rank, world, device, model, net, classes,
                  loader_args, train_loader, val_loader, bad + val_bad, opt, sched, per_step,
                  scaler, cfg, steps, target=target)  # fmt: skip
        if last.is_file():
            run.resume(torch.load(last, map_location=device, weights_only=True))
        return run

    def resume(self, state: dict) -> None:
        """Continue from a ``last.pt`` state: weights, optimiser, schedule, RNG and position."""
        config = self.config
        if state["config"]["model"] != config.model or state["classes"] != self.classes:
            raise RunError(
                f"{self.last}: made for model {state['config']['model']!r} with "
                f"{len(state['classes'])} classes, not {config.model!r} with "
                f"{len(self.classes)}; use a new --out"
            )
        # What may change on resume: more epochs, where and how fast it runs.
        free = {"epochs", "device", "workers", "cache", "resume", "checkpoint_every"}
        ours = asdict(config)
        changed = sorted(
            k
            for k in ours
            if k not in free and k in state["config"] and state["config"][k] != ours[k]
        )
        if changed:
            raise RunError(
                f"{self.last}: the run was started with other {', '.join(changed)}; resume it "
                "with the same settings, or use a new --out"
            )
        self.model.load_state_dict(state["state_dict"])
        self.opt.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.best_acc, self.history = state["best_val_acc"], state["history"]
        if state.get("batches_done") is None:  # an epoch end
            self.start_epoch = state["epoch"] + 1
        else:  # mid-epoch: the same epoch, after the batches already done
            self.start_epoch, self.skip_batches = state["epoch"], state["batches_done"]
            self.partial = state["partial"]
            self.bad += [BadItem(*b[:3], used=bool(b[3:4] and b[3])) for b in state.get("bad", [])]
        sched_state = state["scheduler"]
        if not self.per_step or sched_state.get("total_steps", self.steps) == self.steps:
            self.sched.load_state_dict(sched_state)
        else:  # more epochs asked for than first planned: the same schedule, stretched
            done = min(self.start_epoch * self.steps_per_epoch, self.steps) - 1
            self.sched, _ = _scheduler(config, self.opt, self.steps, last=done)
        rng = state["rng"]
        torch.set_rng_state(rng[self.rank] if self.rank < len(rng) else rng[0])
        if self.progress:
            where = (
                f"epoch {self.start_epoch + 1}, batch {self.skip_batches}"
                if self.partial
                else "epoch end"
            )
            print(f"resuming {self.out} at {where}")

    def save_last(self, epoch: int, batches_done: int | None, sums: dict | None) -> None:
        """Write ``last.pt`` (rank 0), with every rank's RNG state."""
        rng = gather([torch.get_rng_state()]) if self.world > 1 else [torch.get_rng_state()]
        if self.main:
            save_checkpoint(
                self.last,
                self.model,
                self.classes,
                self.cfg,
                epoch=epoch,
                batches_done=batches_done,
                partial=sums,
                bad=[[b.video_id, b.path, b.reason, b.used] for b in self.bad],
                history=self.history,
                best_val_acc=self.best_acc,
                optimizer=self.opt.state_dict(),
                scheduler=self.sched.state_dict(),
                scaler=self.scaler.state_dict(),
                rng=rng,
            )

    def train_epoch(self, epoch: int, stop: _Stop) -> dict:
        """One epoch of optimiser steps (from where a resumed run stopped); its running sums."""
        config = self.config
        self.net.train()
        self.train_loader.dataset.set_epoch(epoch)
        skip = self.skip_batches if epoch == self.start_epoch else 0
        self.train_loader.sampler.set_epoch(epoch, skip=skip * config.batch_size)
        sums = self.partial if (self.partial and epoch == self.start_epoch) else None
        sums = dict(sums or {"loss": 0.0, "correct": 0, "n": 0, "bad": 0, "seconds": 0.0})
        t0 = time.time() - sums["seconds"]
        step = epoch * self.steps_per_epoch + skip // self.accumulate
        last: list[float | None] = [None]  # the loss of the batch before each step

        def loss_of(batch: dict, i: int, boundary: bool) -> torch.Tensor | None:
            sums["bad"] += skipped(batch["bad"])
            loss = self._forward(batch, sums, boundary)
            last[0] = None if loss is None else loss.item()
            return loss

        def after_step(i: int, bar) -> None:
            nonlocal step
            if self.per_step:
                self.sched.step()
            step += 1
            elapsed = time.time() - t0
            if sums["n"] and self.progress:
                bar.set_postfix(
                    loss=f"{sums['loss'] / sums['n']:.3f}",
                    acc=f"{sums['correct'] / sums['n']:.3f}",
                    clips_s=f"{sums['n'] * self.world / max(elapsed, 1e-9):.1f}",
                )
            if self.writer is not None and last[0] is not None:
                self.writer.add_scalar("train/loss", last[0], step)
                self.writer.add_scalar("train/lr", self.opt.param_groups[0]["lr"], step)
            self._maybe_save(stop, step, epoch, i, sums, t0)

        optimise_epoch(
            self.train_loader,
            loss_of,
            self.opt,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            where=lambda i: (
                f"epoch {epoch + 1}, batch {i + 1} of {self.out}; stopping (the last "
                f"good checkpoint is {self.last}); lower the learning rate or check the data"
            ),
            bad=self.bad,
            progress=self.progress,
            start=skip,
            total=self.batches,
            accumulate=self.accumulate,
            scaler=self.scaler,
            after_step=after_step,
        )
        sums["seconds"] = time.time() - t0
        return sums

    def _forward(self, batch: dict, sums: dict, boundary: bool) -> torch.Tensor | None:
        """One batch's loss (None when it had nothing good), its counts added to ``sums``."""
        inputs = self.target.batch_inputs(batch, self.device)
        if inputs is None:
            return None
        y = batch["label"].to(self.device)
        sync = boundary or self.world == 1
        with nullcontext() if sync else self.net.no_sync(), autocast(self.device, self.config.amp):
            logits = self.net(*inputs).float()
            loss = nn.functional.cross_entropy(logits, y)
        sums["loss"] += loss.item() * len(y)
        sums["correct"] += (logits.argmax(1) == y).sum().item()
        sums["n"] += len(y)
        return loss

    def _maybe_save(
        self, stop: _Stop, step: int, epoch: int, i: int, sums: dict, t0: float
    ) -> None:
        """Save ``last.pt`` mid-epoch every ``checkpoint_every`` steps, or on SIGTERM and exit."""
        stopping = stop.requested
        if self.world > 1:
            flag = torch.tensor([float(stopping)], device=self.device)
            torch.distributed.all_reduce(flag)
            stopping = flag.item() > 0
        every = self.config.checkpoint_every
        if not (stopping or (every and step % every == 0)):
            return
        sums["seconds"] = time.time() - t0
        if i + 1 < self.batches:
            self.save_last(epoch, i + 1, dict(sums))
        if stopping:
            if i + 1 == self.batches:
                self.save_last(epoch, i + 1, dict(sums))
            if self.main:
                print(f"stopped by SIGTERM; resume with the same command ({self.last})")
            sys.exit(143)

    def end_epoch(self, epoch: int, sums: dict) -> None:
        """Validate, log the epoch's metrics, keep ``best.pt`` and write ``last.pt``."""
        val = evaluate(self.target, self.val_loader, self.device, self.progress, self.config.amp)
        self.bad += val["bad"]
        if not self.per_step:
            self.sched.step(val["loss"])
        seconds = sums["seconds"]
        row = {
            "epoch": epoch + 1,
            "train_loss": sums["loss"] / max(sums["n"], 1),
            "train_acc": sums["correct"] / max(sums["n"], 1),
            "val_loss": val["loss"],
            "val_acc": val["acc"],
            "lr": self.opt.param_groups[0]["lr"],
            "seconds": seconds,
            "clips_per_s": sums["n"] * self.world / max(seconds, 1e-9),
            "bad_items": sums["bad"] + skipped(val["bad"]),
        }
        self.history.append(row)
        if self.main:
            write_csv(self.out / "metrics.csv", pd.DataFrame(self.history))
            if self.writer is not None:
                for key in ("train_loss", "train_acc", "val_loss", "val_acc", "clips_per_s"):
                    self.writer.add_scalar(f"epoch/{key}", row[key], epoch + 1)
                self.writer.flush()
            if val["acc"] > self.best_acc:
                save_checkpoint(self.ckpt_dir / "best.pt", self.model, self.classes, self.cfg,
                                epoch=epoch, metrics=row)  # fmt: skip
        self.best_acc = max(self.best_acc, val["acc"])
        self.save_last(epoch, None, None)

    def test(self) -> dict:
        """Evaluate ``best.pt`` on the test split and record it in the checkpoint."""
        config = self.config
        best, ckpt = load_checkpoint(self.ckpt_dir / "best.pt", self.device)
        test_loader, _, test_bad = make_loader(
            config.data, "test", self.classes, train=False, **self.loader_args
        )
        best_target = make_target(best, self.device, self.classes, config.frames)
        test = evaluate(best_target, test_loader, self.device, self.progress, config.amp)
        self.bad += test_bad + test["bad"]
        ckpt["metrics"] = {**ckpt.get("metrics", {}), "test_acc": test["acc"]}
        if self.main:
            save_checkpoint(self.ckpt_dir / "best.pt", best, self.classes, self.cfg,
                            epoch=ckpt["epoch"], metrics=ckpt["metrics"])  # fmt: skip
        return {"test_acc": test["acc"], "test_n": test["n"]}


def _loader_args(
    config: TrainConfig, target: Target, rank: int, world: int, device: str = "cpu"
) -> dict:
    """What the train, val and test loaders of a run share."""
    return dict(
        preset=target.rgb_preset,
        frames=config.frames,
        batch_size=config.batch_size,
        fps=config.fps,
        short=config.short,
        truncated=config.truncated,
        label_map=config.label_map,
        workers=config.workers,
        seed=config.seed,
        cache=config.cache,
        modality=target.modality,
        flow_cache=config.flow_cache,
        flow_method=config.flow_method,
        flow_bound=config.flow_bound,
        rank=rank,
        world=world,
        # Clips cross to the device as uint8 and are normalised there (Target.batch_inputs).
        uint8=True,
        pin_memory=torch.device(device).type == "cuda",
    )


def _tensorboard(folder: Path):
    """A TensorBoard event writer (tensorboardX), or None when it is not installed."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:  # optional at run time; the dependency is declared
        return None
    return SummaryWriter(str(folder))


def config_from_json(path: str | Path) -> TrainConfig:
    """Read a ``config.json`` written by :func:`train` back into a :class:`TrainConfig`."""
    data = json.loads(Path(path).read_text())
    fields = TrainConfig.__dataclass_fields__
    return TrainConfig(**{k: v for k, v in data.items() if k in fields})
