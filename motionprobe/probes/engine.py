"""Batched evaluation of a video classifier under interventions, into tidy tables (docs/design.md).

Each clip is decoded once. Every planned variant (intervention x seed, and x candidate for frame
selection) is made from the decoded batch, the variants are sent through the model together in
chunks of ``forward_batch`` clips under ``torch.inference_mode()`` (bf16 autocast on a GPU), and
the rows of each finished batch are written to ``parts/`` atomically, so a killed run resumes with
the first unfinished batch. Under ``torchrun`` each rank takes every ``WORLD_SIZE``-th batch and
rank 0 merges the parts.

Flow inputs. A model that takes optical flow (two-stream I3D, 2-D two-stream, 3D-fused, flow I3D)
is probed through its RGB frames: the engine decodes ``T + 1`` frames, applies the intervention
to all of them, feeds the first ``T`` as RGB and *recomputes* the ``T`` flow fields from the
intervened frames with the method the model was trained on. The two streams therefore always see
the same intervened video (a frozen clip has zero flow, a reversed clip the flow of the reversed
frames, a shuffled clip the flow between its shuffled neighbours); the clean input is recomputed
the same way, so the paired comparison uses one estimator. ``stream="rgb"`` or ``"flow"`` probes
one stream of a two-stream model alone.

Cue conflict. Batches are drawn from a seeded permutation of the dataset, so they mix classes;
each clip's motion partner is a clip of another class from the same batch (seeded by the clips),
and its ``params`` record the partner's ``video_id`` and label.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from motionprobe import interventions as iv
from motionprobe import stats, verdict
from motionprobe.data import collate
from motionprobe.data.loaders import make_dataset
from motionprobe.device import for_inference
from motionprobe.flow import clip_flow
from motionprobe.io import (
    bad_items_frame,
    hide_bars,
    provenance,
    run_lock,
    skipped,
    write_csv,
    write_json,
    write_parquet,
)
from motionprobe.models.adapter import Target, model_digest, run_target
from motionprobe.probes.generator import generate, load_generator
from motionprobe.probes.selection import candidate_values, select
from motionprobe.runs import (
    Outputs,
    RunConfig,
    RunResult,
    claim_folder,
    file_digest,
    register_run,
)
from motionprobe.transforms import Preset

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

#: What runs when no intervention is named: the naive frozen frame, the artifact-controlled
#: single-frame conditions (frame selection, class-agnostic motion injection), the order tests and
#: the cue conflict: everything :func:`motionprobe.stats.taxonomy` reads.
DEFAULT_SUITE = (
    "freeze",
    "freeze:select=max",
    "inject_motion",
    "shuffle",
    "reverse",
    "conflict",
)
#: Added to the default suite when a temporal generator is given.
GENERATOR_SUITE = ("generate:k=1:select=max",)


@dataclass
class Variant:
    """One planned input condition: an intervention with parameters, a seed, maybe a selection."""

    label: str
    name: str
    params: dict
    seed: int
    select: str | None = None
    candidates: int = 8
    random: bool = False


def parse_variants(
    interventions: Sequence[str] | None,
    seeds: Sequence[int],
    frames: int,
    has_generator: bool = False,
) -> list[Variant]:
    """The variants of a run: ``clean`` first, then each spec (random ones once per seed).

    Specs are ``name:key=value:...`` (see :func:`motionprobe.interventions.parse`). Beside
    an intervention's own parameters, ``select=max|oracle`` with ``candidates=N`` (default 8) runs
    frame selection over ``N`` candidate frames (or phases, for ``generate``), and
    ``freeze:index=each`` expands into one variant per frame. ``None`` runs
    :data:`DEFAULT_SUITE` (and :data:`GENERATOR_SUITE` with a generator).
    """
    if interventions is None:
        interventions = [*DEFAULT_SUITE, *(GENERATOR_SUITE if has_generator else ())]
    specs: list[str] = []
    for spec in interventions:
        name, params = _split(spec)
        if params.get("index") == "each":
            rest = [f"{k}={v}" for k, v in params.items() if k != "index"]
            specs += [":".join([name, f"index={t}", *rest]) for t in range(frames)]
        else:
            specs.append(spec.strip())
    seeds = [int(s) for s in seeds] or [0]
    plan = [Variant("clean", "clean", {}, seeds[0])]
    for spec in specs:
        name, params = _split(spec)
        if name == "clean":
            continue
        intervention = iv.get_intervention(name)
        if intervention.needs_generator and not has_generator:
            raise ValueError(f"{spec!r} needs a trained temporal generator (generator=PATH)")
        rule = params.pop("select", None)
        candidates = int(params.pop("candidates", 8))
        if rule is not None:
            if rule not in ("max", "oracle"):
                raise ValueError(f"{spec!r}: select must be 'max' or 'oracle', got {rule!r}")
            if intervention.select_param is None:
                selectable = sorted(n for n, d in iv.INTERVENTIONS.items() if d.select_param)
                raise ValueError(f"{spec!r}: frame selection applies to {selectable}")
        intervention.check(params, frames, spec)
        random = intervention.is_random(params)
        for seed in seeds if random else seeds[:1]:
            plan.append(Variant(spec, name, params, seed, rule, candidates, random))
    return plan


def _split(spec: str) -> tuple[str, dict]:
    """``name`` and parameters of a spec (the engine's own names included)."""
    label, intervention, params = iv.parse(spec)
    return intervention.name, params


def _generator(seed: int, video_ids: Sequence[str], clip_index: torch.Tensor) -> torch.Generator:
    # Seeded by the clips themselves, so a variant does not depend on batch order or on resuming.
    key = ",".join(f"{v}#{int(c)}" for v, c in zip(video_ids, clip_index, strict=True))
    return torch.Generator().manual_seed(zlib.crc32(key.encode()) * 1000 + seed)


def partners(labels: torch.Tensor, video_ids: Sequence[str], seed: int) -> torch.Tensor:
    """For each clip, a clip of another class in the same batch (``-1`` if there is none).

    Args:
        labels: Long ``(B,)``.
        video_ids: The clips' ids (the draw is seeded by them and ``seed``).
        seed: Seed of the pairing.

    Returns:
        Long ``(B,)`` indices into the batch.
    """
    labels_np = labels.numpy()
    out = np.full(len(labels_np), -1, dtype=np.int64)
    for j, vid in enumerate(video_ids):
        others = np.flatnonzero(labels_np != labels_np[j])
        if len(others):
            rng = np.random.default_rng([seed, zlib.crc32(str(vid).encode())])
            out[j] = others[rng.integers(len(others))]
    return torch.from_numpy(out)


class _Forward:
    """Runs the model on queued inputs in chunks of ``size`` clips; returns logits in order."""

    def __init__(self, target: Target, device: str, size: int, amp: str, stream: str) -> None:
        self.target, self.device, self.size, self.amp, self.stream = (
            target,
            device,
            size,
            amp,
            stream,
        )
        self.model = for_inference(target.model)  # BatchNorms folded: nothing hooks it here
        self.queue: list[tuple[torch.Tensor, ...]] = []
        self.out: list[torch.Tensor] = []

    def add(self, inputs: tuple[torch.Tensor, ...]) -> None:
        shapes = [tuple(t.shape[1:]) for t in inputs]
        if self.queue and [tuple(t.shape[1:]) for t in self.queue[-1]] != shapes:
            self.flush()
        self.queue.append(inputs)
        if sum(len(q[0]) for q in self.queue) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.queue:
            return
        joined = [torch.cat(parts) for parts in zip(*self.queue, strict=True)]
        self.queue = []
        for start in range(0, len(joined[0]), self.size):
            chunk = [t[start : start + self.size] for t in joined]
            self.out.append(self._run(chunk))

    def _run(self, chunk: list[torch.Tensor]) -> torch.Tensor:
        t = self.target
        names = [n for n in t.inputs if self.stream in ("both", n)]
        given = dict(zip(names, chunk, strict=True))
        args = t.normalize(given, self.device)
        kwargs = {} if self.stream == "both" else {"stream": self.stream}
        device_type = torch.device(self.device).type
        use_amp = self.amp == "bf16" or (self.amp == "auto" and device_type == "cuda")
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=use_amp):
            return self.model(*args, **kwargs).float().cpu()

    def logits(self) -> torch.Tensor:
        self.flush()
        out, self.out = torch.cat(self.out), []
        return out


@register_run("probe")
@dataclass(frozen=True)
class ProbeConfig(RunConfig):
    """Every parameter of a probe run (:func:`run_probe`); written resolved to ``config.json``.

    Attributes:
        checkpoint: A checkpoint of :func:`motionprobe.train.train`, or any ``nn.Module`` taking
            ``(B, C, T, H, W)`` and returning logits (then give ``classes``, ``frames`` and,
            unless it is one of this package's models, ``preset``).
        data: Dataset root (Kinetics layout or class folders).
        out: Output folder (created; an unfinished run there is resumed).
        split: Split to evaluate.
        interventions: Specs (see :func:`parse_variants`); ``None`` runs :data:`DEFAULT_SUITE`.
        seeds: Seeds of the random interventions (deterministic ones run once).
        num_clips: Evenly spaced clips per video.
        batch_size: Clips decoded per batch.
        device: Torch device (``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun).
        workers: DataLoader workers.
        label_map: Optional class-order file of the dataset.
        generator: A temporal generator (``motionprobe.probes.generator.train_generator``) for
            the ``generate`` intervention.
        stream: ``both``, or ``rgb`` / ``flow`` to probe one stream of a two-stream model.
        flow_method: Flow estimator for flow inputs and flow-driven interventions (default: the
            one the model was trained with).
        amp: ``auto`` (bf16 on CUDA), ``bf16`` or ``off``.
        forward_batch: Clips per forward pass (bounds memory; variants are batched together).
            16 keeps a small model's activations in a CPU's cache (C3D-tiny: 2.0 ms a clip,
            against 4.5 ms in chunks of 128); on a GPU, raise it for small clips.
        classes, frames, preset: For a plain module (see ``checkpoint``); ``frames`` also
            overrides a model spec's clip length.
        weights: A model spec's weights (see :mod:`motionprobe.models.sources`).
        partial_classes: Probe a dataset with classes the model lacks (their videos are
            skipped, the classes listed in ``config.json``'s ``classes_dropped``).
        truncated: ``skip`` truncated videos (bad items) or ``use`` the frames before their
            damage (listed as used; :data:`motionprobe.video.TRUNCATED_POLICIES`).
    """

    checkpoint: str | Path | nn.Module
    data: str | Path
    out: str | Path
    split: str = "test"
    interventions: Sequence[str] | None = None
    seeds: Sequence[int] = (0,)
    num_clips: int = 1
    batch_size: int = 16
    device: str = "cpu"
    workers: int = 0
    label_map: str | None = None
    generator: str | Path | None = None
    stream: str = "both"
    flow_method: str | None = None
    amp: str = "auto"
    forward_batch: int = 16
    classes: Sequence[str] | None = None
    frames: int | None = None
    preset: Preset | str | None = None
    weights: str | None = None
    partial_classes: bool = False
    truncated: str = "skip"


@dataclass
class ProbeResult(RunResult):
    """What a probe run returns.

    Attributes:
        out: The output folder.
        clips: Clean clips evaluated.
        bad_items: Items skipped.
        accuracy: Accuracy per intervention label (``clean`` first).
        rank: This process's rank (a rank other than 0 writes no tables and returns early).
    """

    out: str
    clips: int = 0
    bad_items: int = 0
    accuracy: dict[str, float] = field(default_factory=dict)
    rank: int = 0


def run_probe(
    checkpoint: str | Path | nn.Module | ProbeConfig,
    data: str | Path | None = None,
    out: str | Path | None = None,
    *,
    progress: bool = True,
    overwrite: bool = False,
    **options,
) -> ProbeResult:
    """Evaluate a classifier on a split, clean and under each intervention.

    Writes to ``out``: ``predictions.parquet`` (one row per clip x intervention x seed, with the
    intervention's name and parsed parameters as columns), ``per_class.csv``, ``taxonomy.csv``
    (when a freeze variant ran), ``where.csv`` (where each class's clips are predicted under each
    intervention), ``conflict.csv`` (with the cue conflict), ``motion_energy.csv`` (how much each
    variant's clips move), ``bad_items.csv`` and ``config.json``.

    Args:
        checkpoint: A checkpoint path or module (see :class:`ProbeConfig`), or a whole
            :class:`ProbeConfig` (then ``options`` override its fields).
        data: Dataset root.
        out: Output folder.
        progress: Show a progress bar.
        overwrite: Discard a run ``out`` already holds that was made with other settings (its
            tables, figures and report are removed first).
        **options: Any other field of :class:`ProbeConfig` (``split``, ``interventions``,
            ``seeds``, ...), with its defaults.

    Returns:
        Clean accuracy, accuracy per intervention, counts, the folder.

    Raises:
        RunError: ``out`` is being written by another process, or holds a run (finished or
            not) whose fingerprint differs (another checkpoint file, dataset, label map or
            setting) and ``overwrite`` is not set.
    """
    cfg = ProbeConfig.of(checkpoint, data, out, **options)
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    with run_lock(cfg.out, "probe") if rank == 0 else nullcontext():
        return _probe(cfg, rank, world, progress, overwrite)


def _probe(cfg: ProbeConfig, rank: int, world: int, progress: bool, overwrite: bool) -> ProbeResult:
    """:func:`run_probe` once its folder is held."""
    out = Path(cfg.out)
    device = cfg.device
    if device == "cuda" and world > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    target = run_target(cfg, device, cfg.label_map)
    _check_stream(target, cfg.stream)
    uses_flow = "flow" in target.inputs and cfg.stream != "rgb"
    gen_net = load_generator(cfg.generator, device) if cfg.generator is not None else None
    plan = parse_variants(cfg.interventions, list(cfg.seeds), target.frames, gen_net is not None)
    if uses_flow and any(not iv.get_intervention(v.name).keeps_length for v in plan):
        raise ValueError("single_frame leaves no frame pair to compute flow from; use freeze")
    dataset, bad = make_dataset(
        cfg.data,
        cfg.split,
        target.classes,
        target.rgb_preset,
        # Flow models always get T + 1 frames, so each stream alone sees the fused run's clips.
        frames=target.frames + (1 if "flow" in target.inputs else 0),
        train=False,
        fps=target.info.get("fps"),
        num_clips=cfg.num_clips,
        short=target.info.get("short", "loop"),
        label_map=cfg.label_map,
        truncated=cfg.truncated,
    )
    resolved = cfg.resolved(
        target.info,
        interventions=list(dict.fromkeys(v.label for v in plan)),
        seeds=[int(s) for s in cfg.seeds],
        generator=str(Path(cfg.generator).resolve()) if cfg.generator else None,
        flow_method=target.flow_method if (uses_flow or _needs_flow(plan)) else None,
        classes=target.classes,
        frames=target.frames,
        preset=target.rgb_preset,
    )
    config = {
        "run": ProbeConfig.kind,
        **target.info,
        **resolved.to_dict(),
        "inputs": list(target.inputs),
        "world_size": world,
        **provenance(dataset.records, seed=int(cfg.seeds[0]) if cfg.seeds else None),
    }
    config["fingerprint"] = _identity(cfg, config, target)
    parts = out / "parts"
    if rank == 0:
        # The same run again starts afresh: nothing of the last one stays.
        claim_folder(out, RUN_OUTPUTS, config["fingerprint"], overwrite, fresh=True)
    todo, loader = _pending(dataset, parts, cfg.batch_size, rank, world, cfg.workers)
    forward = _Forward(target, device, cfg.forward_batch, cfg.amp, cfg.stream)
    # A DataLoader yields batches in the order of its batch sampler, workers or not.
    batches = loader if cfg.workers else prefetch(loader)
    bar = tqdm(zip(todo, batches, strict=True), total=len(todo), desc="probe", unit="batch",
               disable=hide_bars(progress) or rank != 0)  # fmt: skip
    try:
        for number, batch in bar:
            rows, energy = [], {}
            if batch["video"] is not None:
                rows, energy = _evaluate_batch(target, batch, plan, forward, uses_flow, gen_net)
            _write_part(parts, number, rows, energy, batch["bad"])
    finally:  # however the loop ends, the prefetching thread does not outlive it
        if batches is not loader:
            batches.close()

    if world > 1:
        dist = torch.distributed
        if not dist.is_initialized():
            dist.init_process_group("gloo")
        dist.barrier()
        if rank != 0:
            return ProbeResult(str(out), rank=rank)
    return _finish(out, parts, bad, config, target.classes)


def prefetch(items: Iterable, depth: int = 1) -> Iterator:
    """``items`` in order, the next ``depth`` of them made in a background thread meanwhile.

    Without loader workers the next batch is decoded while the model runs on this one: the
    decoder and torch's kernels release the GIL, so the decoding hides behind the forward pass
    instead of adding to it. An exception raised while making an item is raised here, in order.

    >>> list(prefetch(iter(range(3))))
    [0, 1, 2]
    """
    done = object()
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def fill() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                slots.put((item, None))
        except BaseException as error:  # handed to the consumer, raised there
            slots.put((None, error))
            return
        slots.put((done, None))

    worker = threading.Thread(target=fill, daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                slots.get(timeout=0.1)
            except queue.Empty:
                pass


def _check_stream(target: Target, stream: str) -> None:
    if stream not in ("both", "rgb", "flow"):
        raise ValueError(f"stream must be 'both', 'rgb' or 'flow', got {stream!r}")
    if stream != "both" and not getattr(target.model, "separable", False):
        raise ValueError(
            f"stream={stream!r} needs a model whose streams can run alone (two-stream I3D, 2-D "
            f"two-stream); {target.info.get('model')} is not one"
        )


#: What a probe run writes into its folder (and what a study adds beside it): removed before
#: a run replaces another, so that no table, figure or report of the old run survives.
OUTPUTS = (
    "parts",
    "predictions.parquet",
    "per_class.csv",
    "taxonomy.csv",
    "where.csv",
    "conflict.csv",
    "motion_energy.csv",
    "bad_items.csv",
    "frames.csv",
    "report.md",
    "figures",
    "config.json",
)
#: The probe's outputs for :func:`motionprobe.runs.claim_folder`: ``parts/plan.json`` holds the
#: fingerprint while the run is under way (the parts are removed when they are merged).
RUN_OUTPUTS = Outputs(ProbeConfig.kind, OUTPUTS, "parts/plan.json", OUTPUTS[:4])


def _identity(cfg: ProbeConfig, config: dict, target: Target) -> dict:
    """The run's fingerprint: everything its results depend on, files by their content (a
    model spec's by its weights' values)."""
    keys = ("checkpoint", "model", "data", "manifest_sha256", "split", "label_map", "classes",
            "frames", "preset", "interventions", "seeds", "num_clips", "stream", "generator",
            "flow_method", "amp")  # fmt: skip
    return {k: config.get(k) for k in keys} | {
        "checkpoint_sha256": model_digest(cfg.checkpoint, target),
        "generator_sha256": file_digest(cfg.generator),
        "label_map_sha256": file_digest(cfg.label_map),
        "batch_size": cfg.batch_size,
        "order": "permuted-0",
    }


def _pending(
    dataset, parts: Path, batch_size: int, rank: int, world: int, workers: int
) -> tuple[list[int], DataLoader]:
    """This rank's unfinished batch numbers and a loader yielding exactly those batches."""
    # A seeded permutation, so that batches mix classes (cue-conflict partners) and stay fixed.
    order = np.random.default_rng(0).permutation(len(dataset)).tolist()
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    mine = [i for i in range(len(batches)) if i % world == rank]
    todo = [i for i in mine if not _part_done(parts / f"batch_{i:06d}.parquet")]
    loader = DataLoader(
        dataset,
        batch_sampler=[batches[i] for i in todo],
        num_workers=workers,
        collate_fn=collate,
    )
    return todo, loader


def _part_done(part: Path) -> bool:
    """Whether a batch's part is there and readable; a damaged one is removed to be redone."""
    if not part.is_file():
        return False
    try:
        pq.ParquetFile(part)
    except (OSError, ValueError):
        part.unlink()
        return False
    return True


def _write_part(parts: Path, number: int, rows: list, energy: dict, bad: list) -> None:
    """One finished batch's rows, motion energy and bad items, each file atomically."""
    if bad:
        write_csv(parts / f"batch_{number:06d}.bad.csv", bad_items_frame(bad))
    write_json(parts / f"batch_{number:06d}.energy.json", energy)
    write_parquet(parts / f"batch_{number:06d}.parquet", pd.DataFrame(rows, columns=COLUMNS))


def _needs_flow(plan: list[Variant]) -> bool:
    return any(
        iv.INTERVENTIONS[v.name].needs_flow or iv.INTERVENTIONS[v.name].needs_partner for v in plan
    )


def _finish(
    out: Path,
    parts: Path,
    bad: list,
    config: dict,
    classes: list[str],
) -> ProbeResult:
    """Merge the parts into the run's tables and statistics (rank 0)."""
    tables = [pd.read_parquet(p) for p in sorted(parts.glob("batch_*.parquet"))]
    predictions = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)
    predictions = predictions.sort_values(["video_id", "clip_index"], kind="mergesort").reset_index(
        drop=True
    )
    predictions = stats.param_columns(predictions)
    bad_tables = [pd.read_csv(p) for p in sorted(parts.glob("batch_*.bad.csv"))]
    bad_table = pd.concat([bad_items_frame(bad), *bad_tables], ignore_index=True)
    bad_table["used"] = bad_table["used"].fillna(False).astype(bool)  # parts of older runs
    energy: dict[str, list[float]] = {}
    for p in sorted(parts.glob("batch_*.energy.json")):
        for label, (total, count) in json.loads(p.read_text()).items():
            acc = energy.setdefault(label, [0.0, 0.0])
            acc[0], acc[1] = acc[0] + total, acc[1] + count
    rule = verdict.Rule()
    config["verdict_rule"] = rule.to_dict()
    write_parquet(out / "predictions.parquet", predictions)
    write_csv(out / "bad_items.csv", bad_table)
    write_json(out / "config.json", config)
    clean_energy = energy.get("clean", [0.0, 0.0])
    clean_mean = clean_energy[0] / clean_energy[1] if clean_energy[1] else float("nan")
    write_csv(
        out / "motion_energy.csv",
        pd.DataFrame(
            [
                (label, t / c, (t / c) / clean_mean if clean_mean else float("nan"))
                for label, (t, c) in energy.items()
                if c
            ],
            columns=["intervention", "motion_energy", "ratio_to_clean"],
        ),
    )
    shutil.rmtree(parts)
    per_class = verdict.mark_sinks(stats.per_class(predictions, classes=classes), rule)
    write_csv(out / "per_class.csv", per_class)
    write_csv(out / "where.csv", stats.where_predictions_go(predictions))
    if predictions["intervention"].astype(str).str.startswith("conflict").any():
        write_csv(out / "conflict.csv", stats.cue_conflict(predictions))
    # The verdict rests on a single-frame test; without one there is no verdict to give.
    if set(rule.single_frame) & set(per_class["intervention"]):
        tax = verdict.taxonomy(per_class, rule, verdict.cue_preference(predictions, rule))
        boot = verdict.stability(predictions, classes, rule)
        write_csv(out / "taxonomy.csv", verdict.mark_stable(tax, boot))

    acc = predictions.groupby("intervention", sort=False)["correct"].mean()
    return ProbeResult(
        out=str(out),
        clips=int((predictions["intervention"] == "clean").sum()),
        bad_items=skipped(bad_table),
        accuracy={k: float(v) for k, v in acc.items()},
    )


def _moved_share(clips: torch.Tensor, threshold: float = 2.0) -> torch.Tensor:
    """Share of each clip's pixels that ever differ from its first frame, ``(B,)``.

    In a cue-conflict clip this is how much of the appearance frame the partner's motion moves:
    warping by another clip's dense flow moves only where that clip moved, which may miss the
    appearance source's object (docs/methods.md#cue-conflict); the global mode moves the whole
    frame.
    """
    change = (clips - clips[:, :, :1]).abs().amax(dim=(1, 2))  # (B, H, W)
    return (change > threshold).float().flatten(1).mean(1)


def _functions(gen_net: nn.Module | None) -> dict[str, Callable[..., torch.Tensor]]:
    fns: dict[str, Callable[..., torch.Tensor]] = {
        name: d for name, d in iv.INTERVENTIONS.items() if d.fn is not None
    }
    if gen_net is not None:
        device = next(gen_net.parameters()).device

        def generated(x: torch.Tensor, **kwargs) -> torch.Tensor:
            # Interventions run on the CPU beside the decoder; the generator runs where it lives.
            return generate(gen_net, x.to(device), **kwargs).to(x.device)

        fns |= {name: generated for name, d in iv.INTERVENTIONS.items() if d.needs_generator}
    return fns


@torch.inference_mode()
def _evaluate_batch(
    target: Target,
    batch: dict,
    plan: list[Variant],
    forward: _Forward,
    uses_flow: bool,
    gen_net: nn.Module | None,
) -> tuple[list[tuple], dict]:
    """Make every planned variant of one decoded batch, run them, return rows and motion energy.

    Returns:
        The table rows and ``{intervention: [sum of per-clip motion energy, clips]}``.
    """
    x = batch["video"]  # (B, 3, T (+1 with flow inputs), H, W), pixel units
    ids, clip_index, labels = batch["video_id"], batch["clip_index"], batch["label"]
    fns = _functions(gen_net)
    t = target.frames
    flows: torch.Tensor | None = None
    if _needs_flow(plan):
        flows = clip_flow(x, target.flow_method)
    energy: dict[str, list[float]] = {}
    jobs = []  # (variant, clip rows in x, candidate values, conflict partners, moved share)
    for v in plan:
        g = _generator(v.seed, ids, clip_index)
        rows = torch.arange(len(x))
        kwargs = dict(v.params)
        mates = None
        desc = iv.INTERVENTIONS[v.name]
        fn = fns[v.name]
        if desc.needs_partner:
            mates = partners(labels, ids, v.seed)
            rows = torch.nonzero(mates >= 0).flatten()
            if len(rows) == 0:  # no clip of another class in this batch: nothing to pair
                continue
            fn = partial(fn, partner_flow=flows[mates[rows]])
        elif desc.needs_flow:
            fn = partial(fn, flow=flows)
        values = [None]
        if v.select is not None:
            count = t if desc.select_param == "index" else t // int(kwargs.get("k", 1))
            values = candidate_values(count, v.candidates)
        for value in values:
            if value is not None:
                kwargs[desc.select_param] = value
            clip = fn(x[rows], generator=g, **kwargs)
            rgb = clip[:, :, :t]
            e = iv.motion_energy(rgb) if rgb.shape[2] > 1 else torch.zeros(len(rgb))
            acc = energy.setdefault(v.label, [0.0, 0.0])
            acc[0], acc[1] = acc[0] + float(e.sum()), acc[1] + len(e)
            if uses_flow:
                inputs = tuple(
                    rgb if n == "rgb" else clip_flow(clip, target.flow_method)
                    for n in target.inputs
                    if forward.stream in ("both", n)
                )
            else:
                inputs = (rgb,)
            forward.add(inputs)
        moved = _moved_share(rgb) if desc.needs_partner else None
        jobs.append((v, rows, values, mates, moved))
    return _rows(target, batch, jobs, forward.logits()), energy


def _rows(target: Target, batch: dict, jobs: list, logits: torch.Tensor) -> list[tuple]:
    """The table rows of one batch's jobs from their logits (in the order they were queued).

    Each job is ``(variant, clip rows in the batch, candidate values, conflict partners, moved
    share)``; a selection keeps one candidate per clip, and its rows record which.
    """
    ids, clip_index, labels = batch["video_id"], batch["clip_index"], batch["label"]
    out_rows: list[tuple] = []
    pos = 0
    for v, rows, values, mates, moved in jobs:
        n = len(rows)
        block = logits[pos : pos + n * len(values)].view(len(values), n, -1)
        pos += n * len(values)
        y = labels[rows]
        chosen = torch.zeros(n, dtype=torch.long)
        if v.select is not None:
            kept, chosen = select(block, v.select, y)
        else:
            kept = block[0]
        probs = kept.softmax(1)
        preds = kept.argmax(1)
        p_label = probs.gather(1, y[:, None]).squeeze(1).tolist()
        logit_label = kept.gather(1, y[:, None]).squeeze(1).tolist()
        base = json.dumps(v.params, sort_keys=True)
        for j, r in enumerate(rows.tolist()):
            params = base
            if v.select is not None or mates is not None:
                extra = dict(v.params)
                if v.select is not None:
                    extra.update(select=v.select, chosen=values[int(chosen[j])])
                if mates is not None:
                    mate = int(mates[r])
                    extra.update(
                        partner=ids[mate],
                        partner_label=target.classes[int(labels[mate])],
                        moved=round(float(moved[j]), 4),
                    )
                params = json.dumps(extra, sort_keys=True)
            out_rows.append(
                (
                    ids[r],
                    int(clip_index[r]),
                    target.classes[int(y[j])],
                    v.label,
                    params,
                    v.seed,
                    target.classes[int(preds[j])],
                    bool(preds[j] == y[j]),
                    p_label[j],
                    logit_label[j],
                )
            )
    return out_rows
