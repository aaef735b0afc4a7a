"""A whole attribution run: a checkpoint's decisions on a dataset split, attributed over time,
measured, sanity-checked, drawn and written to a results folder (:func:`run_attribution`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from motionprobe.attribution.measures import (
    class_profiles,
    completeness,
    frame_profile,
    selective_relevance,
    stream_share,
    temporal_entropy,
)
from motionprobe.attribution.methods import (
    METHOD_SPECS,
    METHODS,
    _as_tuple,
    attribute,
    removal_baseline,
)
from motionprobe.attribution.sanity import _sanity_checks
from motionprobe.data import VideoDataset, collate
from motionprobe.data.layouts import load_index
from motionprobe.data.loaders import make_dataset
from motionprobe.data.synthetic import load_cues
from motionprobe.flow import flow_to_color
from motionprobe.io import (
    atomic_path,
    bad_items_frame,
    hide_bars,
    provenance,
    run_lock,
    skipped,
    write_csv,
    write_json,
    write_parquet,
)
from motionprobe.models.adapter import Target, make_target, model_digest
from motionprobe.plots import (
    heatmap,
    normalise_heat,
    overlay_frames,
    overlay_montage,
    save_figure,
    stream_share_plot,
    temporal_profile_plot,
)
from motionprobe.runs import (
    Outputs,
    RunConfig,
    RunResult,
    claim_folder,
    file_digest,
    register_run,
)
from motionprobe.transforms import to_frames
from motionprobe.video import write_video

#: Columns of ``profiles.parquet``.
PROFILE_COLUMNS = ["video_id", "label", "stream", "frame", "share"]

#: What an attribution run writes into its folder: removed before a run replaces another, so
#: that no table, montage or animation of the old run survives. ``unfinished.json`` holds the
#: fingerprint while the run is under way.
OUTPUTS = Outputs(
    "attribution",
    (
        "clips.csv",
        "profiles.parquet",
        "class_profiles.csv",
        "class_summary.csv",
        "sanity.json",
        "bad_items.csv",
        "attributions.npz",
        "figures",
        "videos",
        "report.md",
        "config.json",
        "unfinished.json",
    ),
    "unfinished.json",
    ("clips.csv", "profiles.parquet", "class_summary.csv", "sanity.json"),
)
#: Settings that change where a run goes or how fast, not its results.
_NOT_RESULTS = ("out", "device")


@register_run("attribution")
@dataclass(frozen=True)
class AttributionConfig(RunConfig):
    """Every parameter of an attribution run (:func:`run_attribution`).

    Attributes:
        checkpoint: A checkpoint of :func:`motionprobe.train.train`, or a model spec
            (:mod:`motionprobe.models.sources`).
        data: Dataset root.
        out: Output folder (created; files are replaced atomically).
        split: Split to read.
        method: As :func:`motionprobe.attribution.attribute`.
        weights, frames, partial_classes: A model spec's weights and clip length, and whether
            dataset classes the model lacks are skipped (see
            :func:`motionprobe.models.adapter.make_target`).
        clips_per_class: Videos per class.
        target: ``label`` (explain the true class) or ``pred`` (the predicted one).
        device: Torch device.
        batch_size: Clips decoded and attributed together.
        label_map: Class-order file of the dataset.
        flow_cache: A flow cache made over ``data`` (default: flow computed on the fly).
        sanity_clips: Clips for the randomisation test (and IG completeness if not the method).
        examples: Classes that get a montage and an animation.
        video_format: ``gif``, ``mp4`` or None (no animations).
        save_maps: Also write the full maps.
        sigma: Selective relevance threshold.
        seed: Seed of the random methods and the randomisation test.
        options: The method's own options, passed to :func:`motionprobe.attribution.attribute`
            (``steps``, ``layer``, ``remove``, ...).
        truncated: ``skip`` truncated videos (bad items) or ``use`` the frames before their
            damage (listed as used; :data:`motionprobe.video.TRUNCATED_POLICIES`).
    """

    checkpoint: str | Path
    data: str | Path
    out: str | Path
    split: str = "test"
    method: str = "integrated_gradients"
    weights: str | None = None
    frames: int | None = None
    partial_classes: bool = False
    clips_per_class: int = 4
    target: str = "label"
    device: str = "cpu"
    batch_size: int = 4
    label_map: str | None = None
    flow_cache: str | Path | None = None
    sanity_clips: int = 2
    examples: int = 24
    video_format: str | None = "gif"
    save_maps: bool = False
    sigma: float = 1.0
    seed: int = 0
    options: dict = field(default_factory=dict)
    truncated: str = "skip"


@dataclass
class AttributionResult(RunResult):
    """What an attribution run returns.

    Attributes:
        out: The output folder.
        clips: Clips attributed.
        bad: Items skipped.
        method: The attribution method.
        sanity: The randomisation test and the IG completeness (``sanity.json``).
        paths: Files written.
        summary: The one-line summary.
    """

    out: str
    clips: int
    bad: int
    method: str
    sanity: dict
    paths: list[str]
    summary: str


@dataclass
class _Run:
    """The model of a run and the clips it attributes.

    Attributes:
        target: The checkpoint's model on the run's device, its inputs (``("rgb",)``,
            ``("flow",)`` or ``("rgb", "flow")``), classes, clip length and flow method.
        dataset: The split, one centre clip per video.
        bad: Items found bad so far (the index's, then the decoder's).
        order: Dataset indices attributed, class by class.
        cues: ``{class: cue}`` of synthetic data (empty otherwise).
        label_map: The class-order file the split was read with (the run's, else the
            checkpoint's training one), if any.
    """

    target: Target
    dataset: VideoDataset
    bad: list
    order: list[int]
    cues: dict
    label_map: str | None = None

    @property
    def model(self) -> nn.Module:
        return self.target.model

    @property
    def classes(self) -> list[str]:
        return self.target.classes

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.target.inputs

    @property
    def two_stream(self) -> bool:
        """An RGB and a flow input, aligned in time."""
        return self.inputs == ("rgb", "flow")


@dataclass
class _Collected:
    """What the attributed batches add up to.

    Attributes:
        clip_rows: One ``clips.csv`` row per clip.
        profile_rows: Tidy ``profiles.parquet`` rows (:data:`PROFILE_COLUMNS`).
        maps: Per input, float16 maps ``(C, T, H, W)`` per clip (``save_maps`` only).
        examples_done: Classes that have their montage.
        sanity_inputs: ``(inputs, targets, maps)`` of the first clips, for the sanity checks.
        paths: Files written so far.
    """

    clip_rows: list[dict] = field(default_factory=list)
    profile_rows: list[tuple] = field(default_factory=list)
    maps: dict[str, list[np.ndarray]] = field(default_factory=dict)
    examples_done: set[str] = field(default_factory=set)
    sanity_inputs: tuple | None = None
    paths: list[Path] = field(default_factory=list)


def run_attribution(
    checkpoint: str | Path | AttributionConfig,
    data: str | Path | None = None,
    out: str | Path | None = None,
    *,
    progress: bool = True,
    overwrite: bool = False,
    **options,
) -> AttributionResult:
    """Attribute a checkpoint's decisions on a split and write the tables, checks and figures.

    Takes the first ``clips_per_class`` videos of each class (one centre clip each, the
    checkpoint's clip length and preset; flow models get flow from the dataset, computed with
    the checkpoint's ``flow_method`` or read from ``flow_cache``), normalises them and runs
    :func:`attribute` one batch of ``batch_size`` clips at a time. Full maps are not kept unless
    ``save_maps``. Writes to ``out``:

    * ``clips.csv``: one row per clip: ``video_id, label, target, pred, logit, entropy,
      temporal_share`` (:func:`selective_relevance`), ``flow_share`` (two-stream) and
      ``completeness`` (relative error, for methods that should sum to the logit difference).
    * ``profiles.parquet``: tidy per-frame profiles ``video_id, label, stream, frame, share``
      (``stream`` is ``all``, and ``rgb``/``flow`` for two-stream models).
    * ``class_profiles.csv`` (:func:`class_profiles` per stream, with a ``stream`` column) and
      ``class_summary.csv`` (per class: clips, mean entropy, temporal share, flow share, their
      standard errors, and the ground-truth ``cue`` where the dataset has ``classes.json``).
    * ``sanity.json``: the randomisation test of ``method`` on ``sanity_clips`` clips and the
      Integrated Gradients completeness error (from the run itself when the method is IG, else
      from IG on the sanity clips), reported with every run.
    * ``figures/temporal_profiles.{png,svg}``, ``figures/stream_share.{png,svg}`` (two-stream),
      ``figures/montage_{class}.png`` and ``videos/{class}.{gif|mp4}`` for the first clip of up
      to ``examples`` classes, ``attributions.npz`` (float16 maps) with ``save_maps``,
      ``bad_items.csv``, and ``config.json`` (every parameter, provenance, and the run's
      ``fingerprint``: the checkpoint's and label map's content hashes, the data and the
      manifest of its clips, every setting).

    Args:
        checkpoint: A checkpoint of :func:`motionprobe.train.train`, or a whole
            :class:`AttributionConfig` (then ``options`` override its fields).
        data: Dataset root.
        out: Output folder.
        progress: Progress bar over clips and a one-line summary at the end.
        overwrite: Discard a run ``out`` already holds that was made with another fingerprint
            (every file it wrote is removed first).
        **options: Fields of :class:`AttributionConfig` (``method``, ``clips_per_class``, ...);
            any other name is an option of the method (``steps``, ``layer``, ``remove``, ...).

    Returns:
        The folder, counts, the sanity checks, the files written and the summary line.

    Raises:
        RunError: ``out`` is being written by another process, or holds an attribution run
            (finished or not) with another fingerprint and ``overwrite`` is not set.
    """
    names = {f.name for f in fields(AttributionConfig)}
    method_options = {k: v for k, v in options.items() if k not in names}
    given = {k: v for k, v in options.items() if k in names}
    params = AttributionConfig.of(checkpoint, data, out, **given)
    if method_options:
        params = replace(params, options={**params.options, **method_options})
    with run_lock(params.out, "attribution"):
        return _run_attribution(params, progress, overwrite)


def _run_attribution(
    params: AttributionConfig, progress: bool, overwrite: bool
) -> AttributionResult:
    """:func:`run_attribution` once its folder is held."""
    _check_params(params)
    out = Path(params.out)
    run = _open_run(params)
    config = _run_config(params, run)
    claim_folder(out, OUTPUTS, config["fingerprint"], overwrite)
    got = _attribute_clips(params, run, out, progress)
    if not got.clip_rows:
        raise ValueError(
            f"{params.data}: no clip of split {params.split!r} could be attributed "
            f"({skipped(run.bad)} bad)"
        )
    clips_df, prof_df, cp_df, summary_df = _run_tables(got, run)
    method, seed = params.method, params.seed
    sanity = _sanity_checks(run.model, *got.sanity_inputs, method, seed, params.options, clips_df)
    paths = got.paths
    paths += _write_tables(out, clips_df, prof_df, cp_df, summary_df, sanity, run.bad)
    if params.save_maps:
        paths.append(_write_maps(out, clips_df, got.maps))
    paths += _write_figures(out, method, cp_df, summary_df, run)
    paths.append(write_json(out / "config.json", config))
    (out / OUTPUTS.stamp).unlink(missing_ok=True)  # finished
    line = _summary_line(out, method, clips_df, sanity, run)
    if progress:
        print(line)
    return AttributionResult(
        out=str(out),
        clips=len(clips_df),
        bad=skipped(run.bad),
        method=method,
        sanity=sanity,
        paths=[str(p) for p in paths],
        summary=line,
    )


def _check_params(params: AttributionConfig) -> None:
    """Reject a bad ``target``, ``video_format`` or method, and baselines in the options."""
    if params.target not in ("label", "pred"):
        raise ValueError(f"target must be 'label' or 'pred', got {params.target!r}")
    if params.video_format not in (None, "gif", "mp4"):
        raise ValueError(f"video_format must be 'gif', 'mp4' or None, got {params.video_format!r}")
    if params.method not in METHODS:
        raise ValueError(f"unknown method {params.method!r}; choose from {list(METHODS)}")
    if "baselines" in params.options:
        raise ValueError("run_attribution uses the default baselines; call attribute() for others")


def _open_run(params: AttributionConfig) -> _Run:
    """Load the checkpoint, open the split with its clip settings, choose the clips.

    The first ``clips_per_class`` videos of each class in index order, class by class in the
    checkpoint's class order.
    """
    target = make_target(
        params.checkpoint,
        params.device,
        frames=params.frames,
        weights=params.weights,
        data_classes=load_index(params.data, params.split, label_map=params.label_map).classes,
        partial_classes=params.partial_classes,
    )
    label_map = params.label_map or target.info.get("train_config", {}).get("label_map")
    classes = target.classes
    dataset, bad = make_dataset(
        params.data,
        params.split,
        classes,
        target.rgb_preset,
        frames=target.frames,
        train=False,
        fps=target.info["fps"],
        short=target.info["short"],
        label_map=label_map,
        modality=target.modality,
        flow_cache=params.flow_cache,
        truncated=params.truncated,
        flow_method=target.flow_method,
    )
    chosen: dict[str, list[int]] = {}
    for i, r in enumerate(dataset.records):
        if len(chosen.setdefault(r.label, [])) < params.clips_per_class:
            chosen[r.label].append(i)
    order = [i for c in classes for i in chosen.get(c, [])]
    cues = load_cues(params.data)
    return _Run(target, dataset, bad, order, cues, label_map)


def _attribute_clips(params: AttributionConfig, run: _Run, out: Path, progress: bool) -> _Collected:
    """Attribute the chosen clips ``batch_size`` at a time; montages of the first per class.

    Args:
        params: The run's arguments.
        run: The model and clips (``run.bad`` grows by the clips that fail to decode).
        out: The output folder (montages and animations are written as they come).

    Returns:
        The rows, maps, sanity inputs and example paths of every attributed batch.
    """
    got = _Collected(maps={n: [] for n in run.inputs})
    bar = tqdm(
        total=len(run.order),
        desc=f"attribute ({params.method})",
        unit="clip",
        disable=hide_bars(progress),
    )
    for start in range(0, len(run.order), params.batch_size):
        indices = run.order[start : start + params.batch_size]
        batch = collate([run.dataset[i] for i in indices])
        run.bad += batch["bad"]
        bar.update(len(batch["label"]) + skipped(batch["bad"]))
        xs = run.target.batch_inputs(batch, params.device)
        if xs is None:
            continue
        rows, attrs = _attribute_batch(params, run, got, batch, xs)
        _keep_maps_and_examples(params, run, got, out, batch, rows, attrs)
    bar.close()
    return got


def _attribute_batch(
    params: AttributionConfig, run: _Run, got: _Collected, batch: dict, xs: tuple[torch.Tensor, ...]
) -> tuple[list[dict], tuple[torch.Tensor, ...]]:
    """Attribute one batch and add its table rows (and the first sanity inputs) to ``got``.

    Args:
        params: The run's arguments.
        run: The model and classes.
        got: Collects the rows; its sanity inputs are taken from the first batch.
        batch: A collated batch (``label``, ``video_id``, ...).
        xs: Its normalised model inputs, each ``(B, C, T, H, W)``.

    Returns:
        The batch's ``clips.csv`` rows and its maps, one ``(B, C, T, H, W)`` per input.
    """
    model = run.model
    with torch.no_grad():
        logits = model(*xs)
    labels = batch["label"].to(params.device)
    targets = labels if params.target == "label" else logits.argmax(1)
    one = xs if len(xs) > 1 else xs[0]
    attrs = _as_tuple(
        attribute(model, one, targets, params.method, seed=params.seed, **params.options)
    )[0]
    if got.sanity_inputs is None:
        n = params.sanity_clips
        got.sanity_inputs = (tuple(x[:n] for x in xs), targets[:n])
        got.sanity_inputs += (tuple(a[:n] for a in attrs),)
    error = _completeness_errors(model, xs, targets, attrs, params, len(labels))
    rows, prows = _clip_tables(
        batch, logits, targets, attrs, run.classes, run.two_stream, params.sigma
    )
    for row, e in zip(rows, error, strict=True):
        row["completeness"] = float(e)
    got.clip_rows += rows
    got.profile_rows += prows
    return rows, attrs


def _completeness_errors(
    model: nn.Module,
    xs: tuple[torch.Tensor, ...],
    targets: torch.Tensor,
    attrs: tuple[torch.Tensor, ...],
    params: AttributionConfig,
    n: int,
) -> np.ndarray:
    """Relative completeness error per clip ``(B,)``; NaN for a method that need not sum up.

    Frame Shapley values are checked against the all-removed clip, one value per frame; with
    ``joint_streams`` a player spans both streams, so its value is counted once.
    """
    complete = METHOD_SPECS[params.method].complete
    if complete is None:
        return np.full(n, np.nan)
    base, players, frames_only = None, attrs, complete == "frames"
    if frames_only:
        base = tuple(removal_baseline(x, params.options.get("remove", "mean")) for x in xs)
        # Joint players carry the same value in both streams: count them once.
        players = attrs[:1] if params.options.get("joint_streams") else attrs
    error = completeness(model, xs, targets, players, base, per_frame=frames_only)
    return error.cpu().numpy()


def _keep_maps_and_examples(
    params: AttributionConfig,
    run: _Run,
    got: _Collected,
    out: Path,
    batch: dict,
    rows: list[dict],
    attrs: tuple[torch.Tensor, ...],
) -> None:
    """Keep the batch's maps (``save_maps``) and write the montage of each new class's first clip.

    Args:
        params: The run's arguments (``save_maps``, ``examples``, ``video_format``).
        run: The model's inputs.
        got: Collects the maps and the written paths.
        out: The output folder.
        batch: The collated batch.
        rows: Its ``clips.csv`` rows.
        attrs: Its maps, one ``(B, C, T, H, W)`` per input.
    """
    for j, row in enumerate(rows):
        if params.save_maps:
            for n, a in zip(run.inputs, attrs, strict=True):
                got.maps[n].append(a[j].cpu().half().numpy())
        if row["label"] not in got.examples_done and len(got.examples_done) < params.examples:
            got.examples_done.add(row["label"])
            got.paths += _write_example(
                out, row["label"], batch, j, attrs, run.inputs, params.video_format
            )


def _run_tables(
    got: _Collected, run: _Run
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``clips``, ``profiles``, ``class_profiles`` (per stream) and ``class_summary`` tables."""
    clips_df = pd.DataFrame(got.clip_rows)
    prof_df = pd.DataFrame(got.profile_rows, columns=PROFILE_COLUMNS)
    cp_df = pd.concat(
        [
            class_profiles(
                np.stack(sub.groupby("video_id", sort=False)["share"].apply(np.asarray)),
                sub.groupby("video_id", sort=False)["label"].first().tolist(),
                run.classes,
            ).assign(stream=stream)
            for stream, sub in prof_df.groupby("stream", sort=False)
        ],
        ignore_index=True,
    )[["stream", "class", "frame", "mean", "sem", "n"]]
    summary_df = _class_summary(clips_df, run.classes, run.cues)
    return clips_df, prof_df, cp_df, summary_df


def _write_tables(
    out: Path,
    clips_df: pd.DataFrame,
    prof_df: pd.DataFrame,
    cp_df: pd.DataFrame,
    summary_df: pd.DataFrame,
    sanity: dict,
    bad: list,
) -> list[Path]:
    """Write the tables, ``sanity.json`` and ``bad_items.csv``; their paths in writing order."""
    paths = [
        write_csv(out / "clips.csv", clips_df),
        write_parquet(out / "profiles.parquet", prof_df),
        write_csv(out / "class_profiles.csv", cp_df),
        write_csv(out / "class_summary.csv", summary_df),
        write_json(out / "sanity.json", sanity),
    ]
    paths.append(write_csv(out / "bad_items.csv", bad_items_frame(bad)))
    return paths


def _write_maps(out: Path, clips_df: pd.DataFrame, maps: dict[str, list[np.ndarray]]) -> Path:
    """``attributions.npz``: ``video_id`` and per input the float16 maps ``(N, C, T, H, W)``."""
    with atomic_path(out / "attributions.npz") as tmp:
        np.savez_compressed(
            tmp,
            video_id=np.asarray(clips_df["video_id"], dtype=str),
            **{n: np.stack(v) for n, v in maps.items()},
        )
    return out / "attributions.npz"


def _write_figures(
    out: Path, method: str, cp_df: pd.DataFrame, summary_df: pd.DataFrame, run: _Run
) -> list[Path]:
    """``figures/temporal_profiles`` and, for two-stream models, ``figures/stream_share``."""
    cues = run.cues or None
    fig = temporal_profile_plot(cp_df, cues=cues, title=f"{method}: per-frame share")
    paths = save_figure(fig, out / "figures" / "temporal_profiles")
    if run.two_stream:
        fig = stream_share_plot(summary_df, cues=cues)
        paths += save_figure(fig, out / "figures" / "stream_share")
    return paths


def _run_config(params: AttributionConfig, run: _Run) -> dict:
    """``config.json``: the resolved config, the model's facts, the provenance of its clips and
    the run's fingerprint."""
    resolved = params.resolved(checkpoint=str(Path(params.checkpoint).resolve()))
    config = {
        "run": AttributionConfig.kind,
        **resolved.to_dict(),
        "model": run.target.info["model"],
        "flow_method": run.target.flow_method if "flow" in run.inputs else None,
        "frames": run.target.frames,
        "inputs": list(run.inputs),
        "presets": {k: v.to_dict() for k, v in run.model.presets.items()},
        "attributed_inputs": "normalised model inputs; baselines: zeros in normalised space",
        "classes": run.classes,
        **provenance([run.dataset.records[i] for i in run.order], seed=params.seed),
    }
    config["fingerprint"] = _identity(params, run, config)
    return config


def _identity(params: AttributionConfig, run: _Run, config: dict) -> dict:
    """The run's fingerprint: every setting but where it runs and writes, the model's facts, the
    data and the manifest of its clips, and the checkpoint and label map by their content."""
    settings = [f.name for f in fields(AttributionConfig) if f.name not in _NOT_RESULTS]
    facts = ["model", "flow_method", "frames", "inputs", "classes", "manifest_sha256"]
    return {k: config.get(k) for k in settings + facts} | {
        "checkpoint_sha256": model_digest(params.checkpoint, run.target),
        "label_map": str(Path(run.label_map).resolve()) if run.label_map else None,
        "label_map_sha256": file_digest(run.label_map),
    }


def _summary_line(out: Path, method: str, clips_df: pd.DataFrame, sanity: dict, run: _Run) -> str:
    """The one-line summary: clips, randomisation test, IG completeness, flow share, bad."""
    rand, ig = sanity["randomisation"], sanity["ig_completeness"]
    return (
        f"attribute: {len(clips_df)} clips, {method}, randomisation rho {rand['correlation']:.2f} "
        f"({'ok' if rand['passed'] else 'FAILED'}), IG completeness error "
        f"{ig['median_relative_error']:.1%}"
        + (f", flow share {np.nanmean(clips_df['flow_share']):.2f}" if run.two_stream else "")
        + f", {skipped(run.bad)} bad -> {out.resolve()}"
    )


def _clip_tables(
    batch: dict,
    logits: torch.Tensor,
    targets: torch.Tensor,
    attrs: tuple[torch.Tensor, ...],
    classes: list[str],
    two_stream: bool,
    sigma: float,
) -> tuple[list[dict], list[tuple]]:
    """Per-clip rows and tidy per-frame profile rows of one attributed batch.

    Args:
        batch: The collated batch (``video_id``, ``label``).
        logits: ``(B, K)``.
        targets: The explained logits, LongTensor ``(B,)``.
        attrs: The maps, one ``(B, C, T, H, W)`` per input.
        classes: Class names in logit order.
        two_stream: Also profile the RGB and the flow stream on their own.
        sigma: Selective relevance threshold.

    Returns:
        ``clips.csv`` rows (``completeness`` is added by the caller) and
        :data:`PROFILE_COLUMNS` rows (streams ``all``, and ``rgb``, ``flow`` if two-stream).
    """
    streams = {"all": attrs} | ({"rgb": attrs[:1], "flow": attrs[1:]} if two_stream else {})
    profiles = {s: frame_profile(a).cpu() for s, a in streams.items()}
    entropy = temporal_entropy(profiles["all"]).tolist()
    tshare = selective_relevance(attrs, sigma)[1].tolist()
    fshare = stream_share(attrs[0], attrs[1]).tolist() if two_stream else [np.nan] * len(entropy)
    rows, prows = [], []
    for j, video_id in enumerate(batch["video_id"]):
        label = classes[int(batch["label"][j])]
        k = int(targets[j])
        rows.append(
            {
                "video_id": video_id,
                "label": label,
                "target": classes[k],
                "pred": classes[int(logits[j].argmax())],
                "logit": float(logits[j, k]),
                "entropy": entropy[j],
                "temporal_share": tshare[j],
                "flow_share": fshare[j],
            }
        )
        for s, p in profiles.items():
            prows += [(video_id, label, s, f, v) for f, v in enumerate(p[j].tolist())]
    return rows, prows


def _class_summary(clips: pd.DataFrame, classes: list[str], cues: dict) -> pd.DataFrame:
    """``class_summary.csv``: per class with clips, their number and the mean (and s.e.) of
    ``entropy``, ``temporal_share`` and ``flow_share`` over non-NaN clips; ``cue`` with cues.
    """
    rows = []
    for c in classes:
        sub = clips[clips["label"] == c]
        if sub.empty:
            continue
        row: dict = {"class": c, "n": len(sub)}
        if cues:
            row["cue"] = cues.get(c)
        for col in ("entropy", "temporal_share", "flow_share"):
            v = sub[col].to_numpy(dtype=float)
            ok = v[~np.isnan(v)]
            row[col] = float(ok.mean()) if len(ok) else np.nan
            row[f"{col}_sem"] = float(ok.std(ddof=1) / np.sqrt(len(ok))) if len(ok) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _write_example(
    out: Path,
    label: str,
    batch: dict,
    j: int,
    attrs: tuple[torch.Tensor, ...],
    inputs: tuple[str, ...],
    video_format: str | None,
) -> list[Path]:
    """Montage (and animation) of clip ``j`` of a batch; one row per input stream.

    Args:
        out: The output folder (``figures/montage_{label}.png``, ``videos/{label}.{fmt}``).
        label: The clip's class.
        batch: The collated batch: pixel-unit ``video`` ``(B, 3, T, H, W)`` and, for flow
            inputs, ``flow`` ``(B, 2, T, H, W)`` in pixels.
        j: The clip's index in the batch.
        attrs: The batch's maps, one ``(B, C, T, H, W)`` per input.
        inputs: The inputs' names, in ``attrs`` order.
        video_format: ``gif``, ``mp4`` or None (no animation).

    Returns:
        The written paths, montage first.
    """
    rows, heats, names = [], [], []
    for name, a in zip(inputs, attrs, strict=True):
        if name == "rgb":
            frames = to_frames(batch["video"][j])
        else:
            frames = flow_to_color(batch["flow"][j].cpu().numpy())
        rows.append(frames)
        heats.append(heatmap(a[j : j + 1])[0])
        names.append(name)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label)
    fig = overlay_montage(rows, heats, row_labels=names, title=f"{label}: {batch['video_id'][j]}")
    # PNG only: an SVG of raster frames adds nothing but size.
    path = out / "figures" / f"montage_{safe}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    paths = [path]
    if video_format is not None:
        stacked = np.concatenate(rows, axis=2)  # streams side by side
        heat = np.concatenate([normalise_heat(h) for h in heats], axis=2)
        paths.append(write_heatmap_video(out / "videos" / f"{safe}.{video_format}", stacked, heat))
    return paths


def write_heatmap_video(
    path: str | Path, frames: np.ndarray, heat: np.ndarray, fps: float = 8.0, alpha: float = 0.5
) -> Path:
    """Write the clip with its heatmap as an animated GIF (Pillow) or a video (PyAV), atomically.

    Args:
        path: ``.gif`` for a looping GIF, any video suffix (``.mp4``) for
            :func:`motionprobe.video.write_video`.
        frames: uint8 ``(T, H, W, 3)``.
        heat: ``(T, H, W)``.
        fps: Frame rate.
        alpha: Heat opacity.

    Returns:
        ``Path(path)``.
    """
    path = Path(path)
    blended = overlay_frames(frames, heat, alpha)
    if path.suffix.lower() != ".gif":
        return write_video(path, blended, fps)
    images = [Image.fromarray(f) for f in blended]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(1, round(1000 / fps)),
            loop=0,
        )
    return path
