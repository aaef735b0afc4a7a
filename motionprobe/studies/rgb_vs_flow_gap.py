"""The RGB-versus-flow gap, per class: what does adding optical flow buy a Two-Stream model?

:func:`rgb_flow_report` renders an ``rgb_vs_flow_gap`` study folder (``rgb/``, ``flow/``,
``fused/``: one probe run per stream of one Two-Stream model, or, for an RGB model of another
family, probe runs of each model and their late fusion's evaluation) from its saved predictions.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from motionprobe import plots
from motionprobe.data.synthetic import load_cues
from motionprobe.evaluate import evaluate_checkpoints
from motionprobe.io import record_study, write_csv, write_text
from motionprobe.models.checkpoint import load_checkpoint, two_stream_checkpoint
from motionprobe.models.sources import is_spec
from motionprobe.probes import run_probe
from motionprobe.report import (
    ci_text,
    describe,
    figure_links,
    find_setting,
    markdown_table,
    read_config,
)
from motionprobe.stats import CLEAN, accuracy_by_intervention, stream_gap
from motionprobe.studies.base import Study, register_study
from motionprobe.studies.context import StudyContext

#: Quo Vadis, Table 4 (Kinetics-400 test, ImageNet-initialised I3D, top-1): printed beside the
#: run's own numbers for orientation only.
QUO_VADIS_K400 = {"rgb": 71.1, "flow": 63.4, "fused": 74.2}
_STREAM_NAMES = {"rgb": "RGB", "flow": "Flow", "fused": "RGB + Flow"}


def _stream_predictions(run_dir: Path) -> dict[str, pd.DataFrame]:
    """``{stream: predictions}`` of the ``rgb``, ``flow`` and ``fused`` sub-runs (a late
    fusion's are its evaluation's ``views.parquet``)."""
    preds = {}
    for stream in ("rgb", "flow", "fused"):
        path = run_dir / stream / "predictions.parquet"
        if stream == "fused" and not path.is_file():
            path = run_dir / stream / "views.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; the {stream} stream was not evaluated")
        preds[stream] = pd.read_parquet(path)
    return preds


def stream_accuracy(preds: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Clean clip accuracy per stream, with its 95 % bootstrap CI (the paper's table).

    Args:
        preds: ``{stream: predictions}``; their ``clean`` rows are used.

    Returns:
        Columns ``stream, n, acc, ci_low, ci_high``, one row per stream in ``preds``' order.
    """
    rows = []
    for stream, pred in preds.items():
        acc = accuracy_by_intervention(pred[pred["intervention"].astype(str) == CLEAN])
        r = acc.iloc[0]
        rows.append((stream, int(r["n"]), r["acc"], r["ci_low"], r["ci_high"]))
    return pd.DataFrame(rows, columns=["stream", "n", "acc", "ci_low", "ci_high"])


def class_gap(
    preds: Mapping[str, pd.DataFrame],
    per_rgb: pd.DataFrame | None = None,
    cues: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Per class, :func:`motionprobe.stats.stream_gap` plus the RGB model's motion dependence.

    Args:
        preds: ``{"rgb": ..., "flow": ..., "fused": ...}`` predictions.
        per_rgb: The RGB run's ``per_class.csv``; when it has ``freeze`` rows, their drop and
            CI become the ``dependence``, ``dependence_low`` and ``dependence_high`` columns.
        cues: Optional ``{class: cue}``: adds a ``cue`` column.

    Returns:
        The table of ``gap.csv``.
    """
    gap = stream_gap(preds)
    if per_rgb is not None:
        frozen = per_rgb[per_rgb["intervention"].astype(str) == "freeze"].set_index("class")
        if len(frozen):
            gap["dependence"] = gap["class"].map(frozen["drop"])
            gap["dependence_low"] = gap["class"].map(frozen["ci_low"])
            gap["dependence_high"] = gap["class"].map(frozen["ci_high"])
    if cues:
        gap["cue"] = gap["class"].map(cues)
    return gap


def _run_section(title: str, config: Mapping[str, Any], data: Any) -> list[str]:
    """The title and ``## What was run``: the model(s) and the dataset."""
    late = find_setting(config, "late_fusion")
    if late:
        model = (
            f"- **Models:** RGB {describe(find_setting(config, 'rgb'))}, flow "
            f"{describe(find_setting(config, 'flow'))}, fused late by "
            + ("summing their logits" if late == "logits" else "averaging their softmax scores")
            + " on the same clips, each model at its own clip length, crop and preprocessing"
        )
    else:
        model = (
            f"- **Model:** {describe(find_setting(config, 'checkpoint') or 'not recorded')} "
            "(one Two-Stream model evaluated one stream at a time; the fused prediction sums the "
            "streams' logits, as the released Quo Vadis models do)"
        )
    return [
        f"# {title}",
        "",
        "## What was run",
        "",
        model,
        f"- **Dataset:** {describe(data) if data else 'not recorded'}, split "
        f"{describe(find_setting(config, 'split') or 'test')}; one centre clip per video",
        "",
    ]


def _accuracy_section(acc: pd.DataFrame) -> list[str]:
    """Accuracy per stream beside Quo Vadis's (``acc``: :func:`stream_accuracy` by stream)."""
    return [
        "## Accuracy per stream (the layout of Quo Vadis, Table 4)",
        "",
        markdown_table(
            [
                [
                    "this run (clip top-1, 95 % CI)",
                    *(
                        ci_text(acc.at[s, "acc"], acc.at[s, "ci_low"], acc.at[s, "ci_high"], 3)
                        for s in ("rgb", "flow", "fused")
                    ),
                ],
                [
                    "Quo Vadis, Kinetics-400 (published, for reference)",
                    *(f"{QUO_VADIS_K400[s] / 100:.3f}" for s in ("rgb", "flow", "fused")),
                ],
            ],
            ["", *(_STREAM_NAMES[s] for s in ("rgb", "flow", "fused"))],
        ),
        "",
    ]


def _gain_findings(acc: pd.DataFrame, gap: pd.DataFrame) -> list[str]:
    """The overall gain from flow, and how many classes gain, lose, or do better on flow alone."""
    fused_gain = acc.at["fused", "acc"] - acc.at["rgb", "acc"]
    sig_gain = gap[gap["gain_low"] > 0]
    sig_loss = gap[gap["gain_high"] < 0]
    flow_better = gap[gap["flow_minus_rgb_low"] > 0]
    rgb_better = gap[gap["flow_minus_rgb_high"] < 0]
    return [
        f"- Adding flow changes accuracy by **{fused_gain:+.3f}** overall "
        f"(RGB {acc.at['rgb', 'acc']:.3f} → fused {acc.at['fused', 'acc']:.3f}; flow alone "
        f"{acc.at['flow', 'acc']:.3f}). Quo Vadis reports +3.1 points on Kinetics-400.",
        f"- {len(sig_gain)} of {len(gap)} classes gain from flow (CI of the gain above 0)"
        + (
            ": " + ", ".join(f"{r['class']} ({r['gain']:+.2f})" for _, r in sig_gain.iterrows())
            if 0 < len(sig_gain) <= 15
            else ""
        )
        + f"; {len(sig_loss)} lose.",
        f"- The flow stream alone beats RGB on {len(flow_better)} classes and loses on "
        f"{len(rgb_better)} (paired CIs excluding 0).",
    ]


def _findings_section(acc: pd.DataFrame, gap: pd.DataFrame, cues: Mapping[str, str]) -> list[str]:
    """``## Findings``: the gain, its correlation with motion dependence, and per cue."""
    findings = _gain_findings(acc, gap)
    rho = np.nan
    if "dependence" in gap and gap["dependence"].notna().sum() > 2:
        rho = gap[["dependence", "gain"]].corr(method="spearman").iloc[0, 1]
    if not np.isnan(rho):
        findings.append(
            f"- Across classes, the gain from flow and the RGB model's frozen-frame drop "
            f"correlate with Spearman ρ = {rho:.2f}: "
            + (
                "flow helps where the RGB model relies on motion."
                if rho > 0.3
                else "the classes flow helps are not simply the ones the RGB model needs "
                "motion for."
            )
        )
    if cues:
        by_cue = gap.groupby("cue")[["acc_rgb", "acc_flow", "acc_fused", "gain"]].mean()
        findings.append(
            "- By ground-truth cue (mean over classes): "
            + "; ".join(
                f"{cue}: RGB {r.acc_rgb:.2f}, flow {r.acc_flow:.2f}, fused {r.acc_fused:.2f}"
                for cue, r in by_cue.iterrows()
            )
            + ". Flow carries no colour, so appearance classes defined by colour are beyond a "
            "flow stream by construction."
        )
    return ["## Findings", "", *findings, ""]


def _per_class_section(gap: pd.DataFrame, cues: Mapping[str, str]) -> list[str]:
    """``## Per class``: accuracies per stream and the paired differences with their CIs."""
    dependence = "dependence" in gap
    cols = ["class", *(["cue"] if cues else []), "n", "acc_rgb", "acc_flow", "acc_fused"]
    table_rows = []
    for _, r in gap.iterrows():
        row = [r[c] for c in cols]
        row.append(ci_text(r["gain"], r["gain_low"], r["gain_high"]))
        row.append(ci_text(r["flow_minus_rgb"], r["flow_minus_rgb_low"], r["flow_minus_rgb_high"]))
        if dependence:
            row.append(ci_text(r["dependence"], r["dependence_low"], r["dependence_high"]))
        table_rows.append(row)
    headers = [*cols, "gain from flow [CI]", "flow − RGB [CI]"]
    headers += ["RGB freeze drop [CI]"] if dependence else []
    return ["## Per class", "", markdown_table(table_rows, headers), ""]


_HOW_TO_READ = (
    "## How to read this",
    "",
    "Accuracies are clip top-1 on one centre clip per video (Quo Vadis averages whole "
    "videos). The gain is the fused accuracy minus the RGB accuracy on the same clips, with "
    "a 95 % paired bootstrap CI over the class's clips. The motion dependence is the RGB "
    "stream's accuracy drop when its clip is replaced by the frozen middle frame (the flow "
    "stream then sees no motion at all, so only the RGB stream is probed).",
    "",
)


def rgb_flow_report(
    run_dir: str | Path,
    data: str | Path | None = None,
    title: str = "The RGB-versus-flow gap, per class",
) -> Path:
    """Tables, figures and ``report.md`` of an ``rgb_vs_flow_gap`` study folder.

    Reads the clean predictions of ``rgb/``, ``flow/`` and ``fused/`` (probe runs of one
    Two-Stream model, one stream at a time) and the frozen-frame drops of ``rgb/per_class.csv``;
    writes ``accuracy.csv`` (the paper's table: accuracy per stream), ``gap.csv`` (per class,
    :func:`motionprobe.stats.stream_gap` plus the RGB model's motion dependence), the figures
    ``rgb_vs_flow`` and ``gain_vs_dependence``, and the report.

    Args:
        run_dir: The study's results folder.
        data: Dataset root, for the ground-truth cues (default: the one recorded in the folder).
        title: Report title.

    Returns:
        The path of ``report.md``.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    data = data or find_setting(config, "data")
    cues = load_cues(data) if data else {}
    preds = _stream_predictions(run_dir)
    accuracy = stream_accuracy(preds)
    write_csv(run_dir / "accuracy.csv", accuracy)
    per_path = run_dir / "rgb" / "per_class.csv"
    per_rgb = (
        pd.read_csv(per_path, keep_default_na=False, na_values=[""]) if per_path.is_file() else None
    )
    gap = class_gap(preds, per_rgb, cues)
    write_csv(run_dir / "gap.csv", gap)
    fig_dir = run_dir / "figures"
    plots.save_figure(plots.rgb_flow_scatter(gap, cues or None), fig_dir / "rgb_vs_flow")
    if "dependence" in gap:
        plots.save_figure(
            plots.gain_vs_dependence(gap, cues or None), fig_dir / "gain_vs_dependence"
        )

    acc = accuracy.set_index("stream")
    out = _run_section(title, config, data)
    out += _accuracy_section(acc)
    out += _findings_section(acc, gap, cues)
    out += _per_class_section(gap, cues)
    out += figure_links(run_dir)
    out += _HOW_TO_READ
    return write_text(run_dir / "report.md", "\n".join(out))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's own options."""
    parser.add_argument("--checkpoint", default=None, help="a Two-Stream I3D checkpoint")
    parser.add_argument(
        "--rgb",
        default=None,
        help="RGB model, with --flow: an RGB I3D checkpoint (joined with the flow I3D into one "
        "Two-Stream I3D), or any other checkpoint or model spec (torchvision:r3d_18@WEIGHTS, "
        "hf:PATH; fused late with the flow I3D)",
    )
    parser.add_argument("--flow", default=None, help="flow I3D checkpoint (with --rgb)")
    parser.add_argument(
        "--fusion",
        choices=("softmax", "logits"),
        default="softmax",
        help="late fusion of an --rgb model of another family: mean softmax scores or summed "
        "logits (a joined Two-Stream I3D always sums logits, as Quo Vadis does)",
    )
    parser.add_argument("--frames", type=int, default=None, help="clip length of an --rgb spec")
    parser.add_argument(
        "--partial-classes",
        action="store_true",
        help="accept an --rgb model that lacks some of the dataset's classes (their videos "
        "are skipped)",
    )
    parser.add_argument("--split", default="test", help="split to probe")
    parser.add_argument("--num-clips", type=int, default=1, help="clips per video")


def _joins(rgb: str, flow: str) -> bool:
    """Whether ``rgb`` and ``flow`` are I3D checkpoints that join into one Two-Stream I3D."""
    if is_spec(rgb):
        return False
    names = [load_checkpoint(p)[1]["model"] for p in (rgb, flow)]
    return names[0].startswith("i3d_rgb") and names[0].replace("rgb", "") == names[1].replace(
        "flow", ""
    )


def _late_fusion(ctx: StudyContext, args: argparse.Namespace, common: dict) -> None:
    """The streams of two separate models: each probed alone, and their late fusion evaluated
    on the same clips (one centre crop, so its views are the probe runs' clips)."""
    out, data = ctx.out, ctx.data
    rgb = dict(frames=args.frames, partial_classes=args.partial_classes)
    run_probe(args.rgb, data, out / "rgb", interventions=["freeze"], **rgb, **common)
    run_probe(args.flow, data, out / "flow", interventions=[], **common)
    evaluate_checkpoints(
        [args.rgb, args.flow],
        data,
        out / "fused",
        split=args.split,
        num_clips=args.num_clips,
        num_crops=1,
        device=ctx.device,
        workers=ctx.workers,
        fusion=args.fusion,
        truncated=ctx.truncated,
        flow_cache="none",  # flow from the frames, as the flow probe computes it: paired clips
        progress=ctx.progress,
        **rgb,
    )
    record_study(
        out,
        "rgb_vs_flow_gap",
        vars(args),
        rgb=str(args.rgb),
        flow=str(args.flow),
        late_fusion=args.fusion,
        data=str(data),
    )


def run(ctx: StudyContext, args: argparse.Namespace) -> Path:
    """Probe one Two-Stream model one stream at a time on the same clips (or an RGB model of
    another family, the flow I3D and their late fusion); write the report."""
    if (args.rgb is None) != (args.flow is None):
        raise ValueError("give both --rgb and --flow, or neither")
    common = dict(split=args.split, num_clips=args.num_clips, device=ctx.device)
    common |= dict(workers=ctx.workers, seeds=[0], overwrite=ctx.overwrite)
    common |= dict(truncated=ctx.truncated)
    if args.rgb and not _joins(args.rgb, args.flow):
        _late_fusion(ctx, args, common)
        return rgb_flow_report(ctx.out)
    checkpoint = args.checkpoint
    if checkpoint is None and args.rgb:
        checkpoint = two_stream_checkpoint(args.rgb, args.flow, ctx.out / "two_stream.pt")
    if checkpoint is None:
        checkpoint = ctx.model("i3d_two_stream")
    # The RGB stream also gets the frozen frame; the flow of a frozen clip is zero everywhere,
    # so freezing says nothing about the flow stream beyond "it sees no motion".
    out, data = ctx.out, ctx.data
    run_probe(checkpoint, data, out / "rgb", interventions=["freeze"], stream="rgb", **common)
    run_probe(checkpoint, data, out / "flow", interventions=[], stream="flow", **common)
    run_probe(checkpoint, data, out / "fused", interventions=[], stream="both", **common)
    record_study(out, "rgb_vs_flow_gap", vars(args), checkpoint=str(checkpoint), data=str(data))
    return rgb_flow_report(out)


STUDY = register_study(
    Study(
        "rgb_vs_flow_gap",
        "The RGB-versus-flow gap (Carreira & Zisserman, CVPR 2017), overall and per class.",
        run,
        report=rgb_flow_report,
        add_arguments=add_arguments,
    )
)
