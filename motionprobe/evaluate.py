"""Evaluation: accuracy of a model over a loader, and multi-view (clips x crops) testing.

``evaluate_checkpoints`` tests one checkpoint, or the late fusion of two (RGB and flow I3D), the
way the papers report it: every video seen as evenly spaced clips x crops, its prediction the
average of its views' logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from motionprobe.data.layouts import load_index
from motionprobe.data.loaders import make_loader
from motionprobe.device import autocast, for_inference, gather, world_size
from motionprobe.io import (
    bad_items_frame,
    hide_bars,
    run_lock,
    skipped,
    write_csv,
    write_json,
    write_parquet,
)
from motionprobe.models.adapter import Target, align_target, make_target
from motionprobe.models.layers import fuse
from motionprobe.models.sources import is_spec
from motionprobe.rawframes import FLOW_BOUND
from motionprobe.runs import RunConfig, RunResult, register_run
from motionprobe.types import BadItem


@torch.inference_mode()
def evaluate(
    target: Target,
    loader: DataLoader,
    device: str = "cpu",
    progress: bool = True,
    amp: str = "off",
) -> dict:
    """Accuracy and mean cross-entropy of a model over ``loader`` (summed over ranks).

    Args:
        target: The model and its inputs (:func:`motionprobe.models.adapter.make_target`).
        loader: Collated batches of the model's inputs.
        device: Torch device.
        progress: Show a progress bar.
        amp: ``off``, ``bf16``, ``fp16`` or ``auto``.

    Returns:
        ``{"loss", "acc", "n", "bad": list[BadItem]}``.
    """
    model = for_inference(target.model.eval())  # BatchNorms folded (no hooks here)
    loss_sum, correct, n, bad = 0.0, 0, 0, []
    for batch in tqdm(loader, desc="eval", leave=False, disable=hide_bars(progress)):
        bad += batch["bad"]
        inputs = target.batch_inputs(batch, device)
        if inputs is None:
            continue
        y = batch["label"].to(device)
        with autocast(device, amp):
            logits = model(*inputs).float()
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    if world_size() > 1:
        totals = torch.tensor([loss_sum, correct, n], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(totals)
        loss_sum, correct, n = totals[0].item(), int(totals[1].item()), int(totals[2].item())
        bad = gather(bad)
    return {"loss": loss_sum / max(n, 1), "acc": correct / max(n, 1), "n": n, "bad": bad}


@torch.inference_mode()
def predict_views(
    target: Target,
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
    model = for_inference(target.model.eval())  # BatchNorms folded (no hooks here)
    rows, logits, bad = [], [], []
    for batch in tqdm(loader, desc="views", leave=False, disable=hide_bars(progress)):
        bad += batch["bad"]
        inputs = target.batch_inputs(batch, device)
        if inputs is None:
            continue
        with autocast(device, amp):
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


@register_run("evaluation")
@dataclass(frozen=True)
class EvalConfig(RunConfig):
    """Every parameter of a multi-view evaluation (:func:`evaluate_checkpoints`).

    Attributes:
        checkpoints: One checkpoint, or two to fuse (e.g. RGB and flow I3D).
        data: Dataset root.
        out: Output folder.
        split: Split to test.
        num_clips: Evenly spaced clips per video.
        num_crops: Crops per clip along the long side.
        batch_size: Views per batch.
        device: Torch device.
        workers: DataLoader workers.
        label_map: Class-order file of the dataset.
        flow_cache: A flow cache over ``data`` (default: the one each checkpoint trained with;
            ``none``: flow computed from the frames, as the probe does).
        fusion: ``logits`` (sum) or ``softmax`` (mean of scores) for two checkpoints.
        weights, frames: For the model specs among ``checkpoints`` (a checkpoint file keeps
            its own clip length; :func:`motionprobe.models.adapter.make_target`).
        partial_classes: Test a dataset with classes a model lacks (their videos are skipped).
        truncated: ``skip`` truncated videos (bad items) or ``use`` the frames before their
            damage (listed as used; :data:`motionprobe.video.TRUNCATED_POLICIES`).
    """

    checkpoints: Sequence[str | Path]
    data: str | Path
    out: str | Path
    split: str = "test"
    num_clips: int = 10
    num_crops: int = 3
    batch_size: int = 16
    device: str = "cpu"
    workers: int = 0
    label_map: str | None = None
    flow_cache: str | None = None
    fusion: str = "logits"
    weights: str | None = None
    frames: int | None = None
    partial_classes: bool = False
    truncated: str = "skip"


@dataclass
class EvalResult(RunResult):
    """What an evaluation returns (also written to ``summary.json``).

    Attributes:
        checkpoints: The checkpoints evaluated.
        fusion: The fusion of two checkpoints (None for one).
        split: The split.
        views_per_video: ``"N clips x M crops"``.
        clip_top1, clip_top5: Accuracy of single views.
        video_top1, video_top5: Accuracy of videos (their views' mean logits).
        views, videos: Counts.
        bad_items: Items skipped.
        out: The output folder.
    """

    checkpoints: list[str]
    fusion: str | None
    split: str
    views_per_video: str
    clip_top1: float
    clip_top5: float
    video_top1: float
    video_top5: float
    views: int
    videos: int
    bad_items: int
    out: str


def evaluate_checkpoints(
    checkpoints: Sequence[str | Path] | EvalConfig,
    data: str | Path | None = None,
    out: str | Path | None = None,
    *,
    progress: bool = True,
    **options,
) -> EvalResult:
    """Clip- and video-level accuracy of one checkpoint, or the late fusion of two.

    Every video is seen as ``num_clips`` evenly spaced clips x ``num_crops`` crops along the
    long side; a view's prediction is its logits, a video's the average of its views' logits.
    Two checkpoints (e.g. RGB and flow I3D) are fused per view by summing logits (``fusion=
    "logits"``, as the released two-stream I3D does) or averaging softmax scores
    (``"softmax"``), on the views both could read.

    Writes to ``out``: ``summary.json`` (clip and video top-1/top-5, counts), ``per_class.csv``
    (class, videos, video top-1, clip top-1), ``confusion.csv`` (true class x predicted class,
    videos), ``predictions.csv`` (per video: label, prediction, top-1, top-5), ``views.parquet``
    (per view, in the columns of the probe's clean predictions plus ``crop_index``: how
    ``rgb_vs_flow_gap`` pairs a late fusion with probe runs clip by clip), ``bad_items.csv`` and
    ``config.json``.

    Args:
        checkpoints: One or two checkpoints, or a whole :class:`EvalConfig` (then ``options``
            override its fields).
        data: Dataset root.
        out: Output folder.
        progress: Show progress bars.
        **options: Any other field of :class:`EvalConfig`, with its defaults.

    Returns:
        The summary.
    """
    cfg = EvalConfig.of(checkpoints, data, out, **options)
    with run_lock(cfg.out, "evaluation"):
        return _evaluate_checkpoints(cfg, progress)


def _evaluate_checkpoints(cfg: EvalConfig, progress: bool) -> EvalResult:
    """:func:`evaluate_checkpoints` once its folder is held."""
    checkpoints, split, fusion = list(cfg.checkpoints), cfg.split, cfg.fusion
    if not 1 <= len(checkpoints) <= 2:
        raise ValueError(f"give one checkpoint or two to fuse, got {len(checkpoints)}")
    out = Path(cfg.out)
    tables, all_logits, bad, own = [], [], [], []
    for path in checkpoints:
        # Two models fused late each keep their own clip: only a spec takes --frames/--weights.
        spec = dict(frames=cfg.frames, weights=cfg.weights) if is_spec(path) else {}
        target = make_target(path, cfg.device, **spec)
        index = load_index(cfg.data, split, label_map=cfg.label_map)
        align_target(target, index.classes, cfg.partial_classes)
        classes, trained = target.classes, target.info.get("train_config", {})
        own.append(classes)
        cache = None if cfg.flow_cache == "none" else cfg.flow_cache or trained.get("flow_cache")
        loader, _, index_bad = make_loader(
            cfg.data,
            split,
            classes,
            target.rgb_preset,
            frames=target.frames,
            batch_size=cfg.batch_size,
            train=False,
            fps=target.info["fps"],
            num_clips=cfg.num_clips,
            short=target.info["short"],
            label_map=cfg.label_map,
            workers=cfg.workers,
            modality=target.modality,
            flow_cache=cache,
            flow_method=target.flow_method,
            num_crops=cfg.num_crops,
            truncated=cfg.truncated,
            flow_bound=trained.get("flow_bound", FLOW_BOUND),
        )
        table, logits, view_bad = predict_views(target, loader, cfg.device, progress=progress)
        tables.append(table)
        all_logits.append(logits)
        bad += index_bad + view_bad
    table, logits, classes = tables[0], all_logits[0], own[0]
    if len(tables) == 2:
        # Two models may order their classes differently, or lack some: fuse on the shared ones.
        classes = [c for c in own[0] if c in set(own[1])]
        if not classes:
            raise ValueError(f"{checkpoints[0]} and {checkpoints[1]} share no class; cannot fuse")
        pairs = [
            _on_classes(t, x, c, classes) for t, x, c in zip(tables, all_logits, own, strict=True)
        ]
        table, logits = _fuse_views([p[0] for p in pairs], [p[1] for p in pairs], fusion)
    labels = table["label"].to_numpy()
    clip_top1 = logits.argmax(1) == labels
    confusion, per_class, predictions = _video_level(table, logits, classes, clip_top1)
    summary = EvalResult(
        checkpoints=[str(c) for c in checkpoints],
        fusion=fusion if len(checkpoints) == 2 else None,
        split=split,
        views_per_video=f"{cfg.num_clips} clips x {cfg.num_crops} crops",
        clip_top1=float(clip_top1.mean()) if len(labels) else float("nan"),
        clip_top5=float(topk_correct(logits, labels, 5).mean()) if len(labels) else float("nan"),
        video_top1=float(predictions["top1"].mean()),
        video_top5=float(predictions["top5"].mean()),
        views=len(table),
        videos=len(predictions),
        bad_items=skipped(bad_items_frame(bad)),
        out=str(out),
    )
    resolved = cfg.resolved(
        checkpoints=[str(c) if is_spec(c) else str(Path(c).resolve()) for c in checkpoints]
    )
    write_json(out / "config.json", {"run": EvalConfig.kind, **resolved.to_dict()})
    write_json(out / "summary.json", summary.to_dict())
    write_csv(out / "per_class.csv", per_class)
    write_csv(
        out / "confusion.csv",
        pd.DataFrame(confusion, index=classes, columns=classes).rename_axis("true").reset_index(),
    )
    write_csv(out / "predictions.csv", predictions)
    write_parquet(out / "views.parquet", view_predictions(table, logits, classes))
    write_csv(out / "bad_items.csv", bad_items_frame(bad))
    return summary


def view_predictions(table: pd.DataFrame, logits: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """Each view's prediction in the columns of the probe's predictions (``clean``, seed 0).

    Args:
        table: Per view ``video_id, label, clip_index, crop_index`` (``label`` an index).
        logits: ``(views, num_classes)``: a model's, or a fusion's.
        classes: Class names in logit order.

    Returns:
        :data:`motionprobe.probes.engine.COLUMNS` plus ``crop_index``, one row per view.
    """
    labels = table["label"].to_numpy()
    scores = torch.from_numpy(logits).float()
    pred = scores.argmax(1).numpy()
    rows = np.arange(len(labels))
    names = np.asarray(classes, dtype=object)
    return pd.DataFrame(
        {
            "video_id": table["video_id"].to_numpy(),
            "clip_index": table["clip_index"].to_numpy(),
            "crop_index": table["crop_index"].to_numpy(),
            "label": names[labels] if len(labels) else [],
            "intervention": "clean",
            "params": "{}",
            "seed": 0,
            "pred": names[pred] if len(labels) else [],
            "correct": pred == labels,
            "p_label": scores.softmax(1).numpy()[rows, labels],
            "logit_label": logits[rows, labels],
        }
    )


def _video_level(
    table: pd.DataFrame, logits: np.ndarray, classes: list[str], clip_top1: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Videos predicted by their views' mean logits: the confusion matrix ``(K, K)``, the
    per-class table and the per-video predictions."""
    labels = table["label"].to_numpy()
    videos = table.assign(row=np.arange(len(table))).groupby("video_id", sort=False)
    video_ids = list(videos.groups)
    video_logits = np.stack([logits[idx].mean(0) for idx in videos["row"].apply(list)])
    video_labels = videos["label"].first().to_numpy()
    pred = video_logits.argmax(1)
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (video_labels, pred), 1)
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
    return confusion, per_class, predictions


def _on_classes(
    table: pd.DataFrame, logits: np.ndarray, own: list[str], classes: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """A model's views and logits ``(views, len(own))`` on ``classes`` (a subset of ``own``,
    in another order): labels renumbered, views of other classes dropped."""
    position = {c: i for i, c in enumerate(own)}
    columns = np.array([position[c] for c in classes], dtype=np.int64)
    renumber = np.full(len(own), -1, dtype=np.int64)
    renumber[columns] = np.arange(len(classes))
    labels = renumber[table["label"].to_numpy(dtype=np.int64)]
    keep = labels >= 0
    return table[keep].assign(label=labels[keep]).reset_index(drop=True), logits[keep][:, columns]


def _fuse_views(
    tables: list[pd.DataFrame], logits: list[np.ndarray], fusion: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """The views both models could read, with their fused logits ``(views, num_classes)``."""
    keys = ["video_id", "clip_index", "crop_index"]
    a = tables[0].reset_index().rename(columns={"index": "ia"})
    b = tables[1][keys].reset_index().rename(columns={"index": "ib"})
    both = a.merge(b, on=keys)
    fused = fuse(
        torch.from_numpy(logits[0][both["ia"].to_numpy()]),
        torch.from_numpy(logits[1][both["ib"].to_numpy()]),
        fusion,
    )
    return both.drop(columns=["ia", "ib"]), fused.numpy()
