"""Training and evaluation loops (single process), checkpoints, resume.

A run folder holds ``config.json``, ``metrics.csv`` (one row per epoch), ``bad_items.csv`` (videos
skipped, with the reason) and ``checkpoints/{last,best}.pt``. ``last.pt`` also holds the optimiser
and scheduler state: re-running the same command on the same folder resumes after the last
finished epoch.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from motionprobe.data import VideoDataset, collate, load_index
from motionprobe.io import atomic_path, write_csv, write_json
from motionprobe.models import create_model
from motionprobe.transforms import ClipTransform, Preset
from motionprobe.types import BadItem, VideoError


@dataclass
class TrainConfig:
    """Every parameter of a training run (written to ``config.json`` and the checkpoints).

    Defaults suit the synthetic controls on a 2-core CPU; a dataset of full-size videos takes the
    same options (``frames=16, size=112`` for ``c3d``).
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
    model_kwargs: dict = field(default_factory=dict)


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
    **dataset_kwargs,
) -> tuple[DataLoader, VideoDataset, list[BadItem]]:
    """A DataLoader of pixel-unit clips ``(B, 3, T, crop, crop)`` over :func:`make_dataset`.

    With the decoded-video cache on, decoding happens in the main process (workers would each
    hold a copy of the cache).

    Returns:
        The loader, its dataset and the items the index already found bad.
    """
    dataset, bad = make_dataset(
        root, split, classes, preset, frames, train, seed=seed, **dataset_kwargs
    )
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train,
        num_workers=0 if dataset.cache else workers,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(seed),
        worker_init_fn=_seed_worker,
    )
    return loader, dataset, bad


def _seed_worker(worker_id: int) -> None:
    # Workers start with copies of one transform; without a reseed they would all draw the same
    # crops. The worker seed changes every epoch (it derives from the loader's generator).
    info = torch.utils.data.get_worker_info()
    transform = info.dataset.transform
    if isinstance(transform, ClipTransform):
        transform.rng = np.random.default_rng([transform.seed, info.seed % 2**32])


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
    model: nn.Module, loader: DataLoader, device: str = "cpu", progress: bool = True
) -> dict:
    """Accuracy and mean cross-entropy of ``model`` over ``loader``.

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
        logits = model(*inputs)
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    return {"loss": loss_sum / max(n, 1), "acc": correct / max(n, 1), "n": n, "bad": bad}


def train(config: TrainConfig, progress: bool = True) -> dict:
    """Train ``config.model`` on ``config.data`` (splits ``train``/``val``/``test``).

    Keeps ``checkpoints/last.pt`` (every epoch) and ``best.pt`` (best validation accuracy), writes
    ``metrics.csv`` and ``bad_items.csv``, and finally evaluates ``best.pt`` on ``test`` if that
    split exists. Resumes from ``last.pt`` when the run folder already has one.

    Returns:
        The final metrics: ``best_val_acc``, ``test_acc``, ``epochs``, ``bad_items``, paths.
    """
    out = Path(config.out)
    ckpt_dir = out / "checkpoints"
    torch.manual_seed(config.seed)

    train_index = load_index(config.data, "train", label_map=config.label_map)
    classes = train_index.classes
    sizes = {"frames": config.frames, "size": config.size, "short_side": config.resize}
    kwargs = {k: v for k, v in sizes.items() if v} | config.model_kwargs
    model = create_model(config.model, len(classes), weights=config.weights, **kwargs)
    model = model.to(config.device)
    cfg = asdict(config) | {"classes": classes, "preset": model.preset.to_dict()}
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
    )
    train_loader, train_set, bad = make_loader(
        config.data, "train", classes, train=True, flip=config.flip, **loader_args
    )
    val_loader, _, val_bad = make_loader(config.data, "val", classes, train=False, **loader_args)
    bad += val_bad

    params = model.parameters()
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(params, config.lr, momentum=0.9, weight_decay=config.weight_decay)
    elif config.optimizer == "adamw":
        opt = torch.optim.AdamW(params, config.lr, weight_decay=config.weight_decay)
    else:
        raise ValueError(f"unknown optimizer {config.optimizer!r} (sgd or adamw)")
    steps = max(config.epochs * len(train_loader), 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=steps)

    start_epoch, best_acc, history = 0, -1.0, []
    last = ckpt_dir / "last.pt"
    if last.is_file():
        state = torch.load(last, map_location=config.device, weights_only=True)
        if state["config"]["model"] != config.model or state["classes"] != classes:
            raise ValueError(f"{last}: belongs to another model or class list; use a new --out")
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        start_epoch, best_acc = state["epoch"] + 1, state["best_val_acc"]
        if state["scheduler"]["total_steps"] == steps:
            sched.load_state_dict(state["scheduler"])
        else:  # More epochs asked for than first planned: the same schedule, stretched.
            done = min(start_epoch * len(train_loader), steps) - 1
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, config.lr, total_steps=steps, last_epoch=done
            )
        history = state["history"]
        if progress:
            print(f"resuming {out} after epoch {start_epoch}")
    write_json(out / "config.json", cfg)

    for epoch in range(start_epoch, config.epochs):
        model.train()
        train_set.set_epoch(epoch)
        t0, loss_sum, correct, n = time.time(), 0.0, 0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress)
        for batch in bar:
            bad += batch["bad"]
            inputs = model_inputs(model, batch, config.device)
            if inputs is None:
                continue
            y = batch["label"].to(config.device)
            logits = model(*inputs)
            loss = nn.functional.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
            bar.set_postfix(loss=f"{loss_sum / n:.3f}", acc=f"{correct / n:.3f}")
        val = evaluate(model, val_loader, config.device, progress)
        bad += val["bad"]
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / max(n, 1),
            "train_acc": correct / max(n, 1),
            "val_loss": val["loss"],
            "val_acc": val["acc"],
            "lr": opt.param_groups[0]["lr"],
            "seconds": time.time() - t0,
        }
        history.append(row)
        write_csv(out / "metrics.csv", pd.DataFrame(history))
        if val["acc"] > best_acc:
            best_acc = val["acc"]
            save_checkpoint(ckpt_dir / "best.pt", model, classes, cfg, epoch=epoch, metrics=row)
        save_checkpoint(
            last,
            model,
            classes,
            cfg,
            epoch=epoch,
            metrics=row,
            history=history,
            best_val_acc=best_acc,
            optimizer=opt.state_dict(),
            scheduler=sched.state_dict(),
        )

    result = {
        "best_val_acc": best_acc,
        "epochs": config.epochs,
        "checkpoint": str(ckpt_dir / "best.pt"),
    }
    if (Path(config.data) / "test.csv").is_file() or (Path(config.data) / "test").is_dir():
        best, ckpt = load_checkpoint(ckpt_dir / "best.pt", config.device)
        test_loader, _, test_bad = make_loader(
            config.data, "test", classes, train=False, **loader_args
        )
        test = evaluate(best, test_loader, config.device, progress)
        bad += test_bad + test["bad"]
        result["test_acc"] = test["acc"]
        result["test_n"] = test["n"]
        ckpt["metrics"] = {**ckpt.get("metrics", {}), "test_acc": test["acc"]}
        save_checkpoint(
            ckpt_dir / "best.pt", best, classes, cfg, epoch=ckpt["epoch"], metrics=ckpt["metrics"]
        )
    table = _bad_frame(bad)
    write_csv(out / "bad_items.csv", table)
    result["bad_items"] = len(table)
    write_json(out / "result.json", result)
    return result


def config_from_json(path: str | Path) -> TrainConfig:
    """Read a ``config.json`` written by :func:`train` back into a :class:`TrainConfig`."""
    data = json.loads(Path(path).read_text())
    fields = TrainConfig.__dataclass_fields__
    return TrainConfig(**{k: v for k, v in data.items() if k in fields})
