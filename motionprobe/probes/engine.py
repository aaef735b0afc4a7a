"""Batched evaluation of a checkpoint under interventions, into the tidy tables of DESIGN.md.

Each clip is decoded once; every intervention (and seed) is applied to the decoded batch, the
variants are concatenated along the batch axis and sent through the model together under
``torch.inference_mode()``. Rows of each finished batch are written to ``parts/`` atomically, so
a killed run resumes with the first unfinished batch.
"""

from __future__ import annotations

import json
import shutil
import zlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from motionprobe import stats
from motionprobe.data import collate
from motionprobe.io import provenance, write_csv, write_json, write_parquet
from motionprobe.probes.interventions import RANDOM, parse
from motionprobe.train import load_checkpoint, make_dataset

COLUMNS = [
    "video_id",
    "clip_index",
    "label",
    "intervention",
    "params",
    "seed",
    "pred",
    "correct",
    "p_label",
    "logit_label",
]


def _plan(
    interventions: Sequence[str], seeds: Sequence[int]
) -> list[tuple[str, object, dict, int]]:
    """(label, function, params, seed) for every variant to evaluate; ``clean`` first, once."""
    plan = [(*parse("clean"), 0)]
    for spec in interventions:
        label, fn, params = parse(spec)
        if label == "clean":
            continue
        for seed in seeds if label.split(":")[0] in RANDOM else seeds[:1]:
            plan.append((label, fn, params, int(seed)))
    return plan


def _generator(seed: int, video_ids: Sequence[str], clip_index: torch.Tensor) -> torch.Generator:
    # Seeded by the clips themselves, so a variant does not depend on batch order or on resuming.
    key = ",".join(f"{v}#{int(c)}" for v, c in zip(video_ids, clip_index, strict=True))
    return torch.Generator().manual_seed(zlib.crc32(key.encode()) * 1000 + seed)


def run_probe(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    split: str = "test",
    interventions: Sequence[str] = ("freeze", "shuffle", "reverse"),
    seeds: Sequence[int] = (0,),
    num_clips: int = 1,
    batch_size: int = 16,
    device: str = "cpu",
    workers: int = 0,
    label_map: str | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate a checkpoint on a split, clean and under each intervention.

    Writes to ``out``: ``predictions.parquet`` (one row per clip x intervention x seed),
    ``per_class.csv`` and ``taxonomy.csv`` (see :mod:`motionprobe.stats`), ``bad_items.csv`` and
    ``config.json``.

    Args:
        checkpoint: A checkpoint written by :func:`motionprobe.train.train`.
        data: Dataset root (Kinetics layout or class folders).
        out: Output folder (created; an unfinished run there is resumed).
        split: Split to evaluate.
        interventions: Specs understood by :func:`motionprobe.probes.interventions.parse`.
        seeds: Seeds of the random interventions (deterministic ones run once).
        num_clips: Evenly spaced clips per video.
        batch_size: Clips decoded per batch (the model sees ``batch_size x variants`` at once).
        device: Torch device.
        workers: DataLoader workers.
        label_map: Optional class-order file of the dataset.
        progress: Show a progress bar.

    Returns:
        Summary: clean accuracy, accuracy per intervention, counts, paths.
    """
    out = Path(out)
    model, ckpt = load_checkpoint(checkpoint, device)
    if tuple(model.inputs) != ("rgb",):
        raise ValueError(
            f"{checkpoint}: {ckpt['model']} takes {model.inputs}; the probe engine intervenes on "
            "RGB clips only, so flow models cannot be probed yet"
        )
    cfg = ckpt["config"]
    classes = list(ckpt["classes"])
    dataset, bad = make_dataset(
        data,
        split,
        classes,
        model.preset,
        frames=int(cfg.get("frames", 16)),
        train=False,
        fps=cfg.get("fps"),
        num_clips=num_clips,
        short=cfg.get("short", "loop"),
        label_map=label_map,
    )
    plan = _plan(interventions, list(seeds))
    config = {
        "checkpoint": str(Path(checkpoint).resolve()),
        "model": ckpt["model"],
        "data": str(Path(data).resolve()),
        "split": split,
        "interventions": list(dict.fromkeys(p[0] for p in plan)),
        "seeds": [int(s) for s in seeds],
        "num_clips": num_clips,
        "batch_size": batch_size,
        "frames": int(cfg.get("frames", 16)),
        "preset": model.preset.to_dict(),
        "classes": classes,
        "train_config": cfg,
        **provenance(dataset.records, seed=int(seeds[0]) if seeds else None),
    }
    parts = out / "parts"
    stamp = parts / "plan.json"
    key = {k: config[k] for k in ("checkpoint", "split", "interventions", "seeds", "num_clips")}
    key["batch_size"] = batch_size
    if stamp.is_file() and json.loads(stamp.read_text()) != key:
        raise ValueError(
            f"{out}: holds an unfinished probe run with other settings; use a new --out"
        )
    write_json(stamp, key)

    batches = [
        list(range(i, min(i + batch_size, len(dataset))))
        for i in range(0, len(dataset), batch_size)
    ]
    todo = [b for i, b in enumerate(batches) if not (parts / f"batch_{i:06d}.parquet").is_file()]
    numbers = {b[0]: i for i, b in enumerate(batches)}
    loader = DataLoader(dataset, batch_sampler=todo, num_workers=workers, collate_fn=collate)
    total = len(todo)
    # A DataLoader yields batches in the order of its batch sampler, workers or not.
    bar = tqdm(
        zip(todo, loader, strict=True),
        total=total,
        desc="probe",
        unit="batch",
        disable=not progress,
    )
    for indices, batch in bar:
        number = numbers[indices[0]]
        rows = []
        if batch["video"] is not None:
            rows = _evaluate_batch(model, batch, plan, classes, device)
        bad_rows = [(b.video_id, b.path, b.reason) for b in batch["bad"]]
        if bad_rows:
            write_csv(
                parts / f"batch_{number:06d}.bad.csv",
                pd.DataFrame(bad_rows, columns=["video_id", "path", "reason"]),
            )
        write_parquet(parts / f"batch_{number:06d}.parquet", pd.DataFrame(rows, columns=COLUMNS))

    tables = [pd.read_parquet(p) for p in sorted(parts.glob("batch_*.parquet"))]
    predictions = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)
    bad_tables = [pd.read_csv(p) for p in sorted(parts.glob("batch_*.bad.csv"))]
    bad_table = pd.concat(
        [
            pd.DataFrame(
                [(b.video_id, b.path, b.reason) for b in bad],
                columns=["video_id", "path", "reason"],
            )
        ]
        + bad_tables,
        ignore_index=True,
    )
    write_parquet(out / "predictions.parquet", predictions)
    write_csv(out / "bad_items.csv", bad_table)
    write_json(out / "config.json", config)
    shutil.rmtree(parts)
    per_class = stats.per_class(predictions, classes=classes)
    write_csv(out / "per_class.csv", per_class)
    # The taxonomy rests on the frozen-frame test; without it there is no verdict to give.
    if "freeze" in set(per_class["intervention"]):
        write_csv(out / "taxonomy.csv", stats.taxonomy(per_class))

    acc = predictions.groupby("intervention", sort=False)["correct"].mean()
    return {
        "out": str(out),
        "clips": int((predictions["intervention"] == "clean").sum()),
        "bad_items": len(bad_table),
        "accuracy": {k: float(v) for k, v in acc.items()},
    }


@torch.inference_mode()
def _evaluate_batch(model, batch: dict, plan: list, classes: list[str], device: str) -> list[tuple]:
    """Apply every planned variant to one decoded batch and return the table rows."""
    x = batch["video"]
    variants = [
        fn(x, generator=_generator(seed, batch["video_id"], batch["clip_index"]), **params)
        for _, fn, params, seed in plan
    ]
    inputs = model.preset.normalize(torch.cat(variants).to(device))
    logits = model(inputs).float().cpu()
    probs = logits.softmax(1)
    labels = batch["label"].repeat(len(plan))
    preds = logits.argmax(1)
    index = torch.arange(len(labels))
    p_label = probs[index, labels].tolist()
    logit_label = logits[index, labels].tolist()
    rows = []
    b = len(x)
    for k, (label, _, params, seed) in enumerate(plan):
        for j in range(b):
            i = k * b + j
            rows.append(
                (
                    batch["video_id"][j],
                    int(batch["clip_index"][j]),
                    classes[int(labels[i])],
                    label,
                    json.dumps(params, sort_keys=True),
                    seed,
                    classes[int(preds[i])],
                    bool(preds[i] == labels[i]),
                    p_label[i],
                    logit_label[i],
                )
            )
    return rows
