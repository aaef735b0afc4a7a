"""A single frame, a bag of frames, or an ordered sequence? The verdicts of several architectures.

:func:`taxonomy_report` renders a ``temporal_taxonomy`` study folder (one probe run per model)
from its saved tables alone.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from motionprobe import plots
from motionprobe.data.kinetics import temporal_static_subsets
from motionprobe.data.synthetic import load_cues
from motionprobe.io import record_study, write_csv, write_text
from motionprobe.probes import run_probe
from motionprobe.report import (
    describe,
    figure_links,
    find_setting,
    frame_table,
    markdown_table,
    pct,
    probe_report,
    read_config,
)
from motionprobe.stats import cue_agreement, share_ci, verdict_agreement, verdict_composition
from motionprobe.studies.base import Study, register_study
from motionprobe.studies.context import StudyContext, named_checkpoints
from motionprobe.types import VERDICTS


def _model_runs(run_dir: Path, config: Mapping[str, Any]) -> dict[str, Path]:
    """``{model: sub-run folder}`` in the order the study ran them."""
    names = list((config.get("checkpoints") or {}).keys())
    found = sorted(p.parent.name for p in run_dir.glob("*/taxonomy.csv"))
    names = [n for n in names if n in found] + [n for n in found if n not in names]
    if not names:
        raise FileNotFoundError(f"{run_dir}: no model sub-folder with a taxonomy.csv")
    return {n: run_dir / n for n in names}


def class_strata(
    classes: list[str], subsets: Mapping[str, str], cues: Mapping[str, str]
) -> dict[str, str]:
    """``{class: stratum}``: Kowal et al.'s Kinetics-400 temporal / static subsets when at least
    two of ``classes`` are in them, else the ground-truth cue, else none.

    Args:
        classes: The classes the models were probed on.
        subsets: ``{class: "temporal" or "static"}``
            (:func:`motionprobe.data.kinetics.temporal_static_subsets`).
        cues: ``{class: cue}`` of synthetic data, or empty.
    """
    if len(set(classes) & set(subsets)) >= 2:  # Kowal et al.'s Kinetics-400 subsets
        return {c: f"{kind} subset (Kowal et al.)" for c, kind in subsets.items()}
    if cues:
        return {c: f"cue: {cue}" for c, cue in cues.items()}
    return {}


def verdict_table(
    classes: list[str], taxes: Mapping[str, pd.DataFrame], strata: Mapping[str, str]
) -> pd.DataFrame:
    """Class x model verdicts (``verdicts.csv``), with each class's stratum when there are strata.

    Args:
        classes: Row order.
        taxes: ``{model: taxonomy table}``.
        strata: ``{class: stratum}``, or empty.
    """
    wide = pd.DataFrame({"class": classes})
    if strata:
        wide["stratum"] = wide["class"].map(strata)
    for model, tax in taxes.items():
        wide[model] = wide["class"].map(tax.set_index(tax["class"].astype(str))["verdict"])
    return wide


def _run_section(
    title: str, runs: Mapping[str, Path], config: Mapping[str, Any], data: Any
) -> list[str]:
    """The title and ``## What was run``: each model with a link to its report, the data."""
    out = [f"# {title}", "", "## What was run", ""]
    ckpts = config.get("checkpoints") or {}
    for model in runs:
        out.append(
            f"- **{model}:** {describe(ckpts.get(model, 'not recorded'))} "
            f"([report]({model}/report.md))"
        )
    out += [
        f"- **Dataset:** {describe(data) if data else 'not recorded'}",
        "- **Probes:** the default suite of every model (naive and artifact-controlled single "
        "frames, shuffle, reverse, cue conflict); verdicts by `motionprobe.stats.taxonomy`",
        "",
    ]
    return out


def _composition_section(composition: pd.DataFrame, runs: Mapping[str, Path]) -> list[str]:
    """``## Verdict composition``: classes per verdict and model, over all classes."""
    allc = composition[composition["stratum"] == "all classes"]
    table = allc.pivot_table(index="model", columns="verdict", values="classes", aggfunc="sum")
    table = table.reindex(index=list(runs), columns=VERDICTS).fillna(0).astype(int)
    return [
        "## Verdict composition",
        "",
        markdown_table([[m, *table.loc[m].tolist()] for m in table.index], ["model", *VERDICTS]),
        "",
    ]


def _model_findings(
    taxes: Mapping[str, pd.DataFrame],
    composition: pd.DataFrame,
    strata: Mapping[str, str],
    cues: Mapping[str, str],
) -> list[str]:
    """Per model, the single-frame and ordered-sequence shares; per stratum, the single-frame
    share; with cues, the agreement with the ground truth."""
    findings = []
    for model in taxes:
        flags = (taxes[model]["verdict"] == "single_frame").to_numpy()
        share, low, high = share_ci(flags)
        seq = float((taxes[model]["verdict"] == "ordered_sequence").mean())
        findings.append(
            f"- **{model}** recognises {pct(share)} of classes from a single frame "
            f"(95 % CI {pct(low)} – {pct(high)}) and needs the ordered sequence for {pct(seq)}."
        )
    if strata:
        for stratum in sorted(set(strata.values()) & set(composition["stratum"])):
            sub = composition[(composition["stratum"] == stratum)]
            sf = sub[sub["verdict"] == "single_frame"].set_index("model")["share"]
            findings.append(
                f"- **{stratum}**: single_frame share "
                + ", ".join(f"{m} {pct(sf.get(m, np.nan))}" for m in taxes)
                + "."
            )
    if cues:
        for model, tax in taxes.items():
            agree = cue_agreement(tax, cues)
            findings.append(
                f"- {model} matches the ground truth on {int(agree['agrees'].sum())} of "
                f"{len(agree)} classes."
            )
    return findings


def _agreement_findings(
    agreement: pd.DataFrame, wide: pd.DataFrame, models: list[str]
) -> list[str]:
    """Pairwise agreement between the models, and the classes they disagree on."""
    findings = []
    if len(agreement):
        pairs = "; ".join(
            f"{r.model_a} vs {r.model_b}: {pct(r.agree)} of {r.classes}"
            for r in agreement.itertuples(index=False)
        )
        findings.append(f"- Pairwise agreement over classes both judged conclusively: {pairs}.")
    disagree = wide[wide[models].nunique(axis=1) > 1]
    findings.append(
        f"- The architectures disagree on {len(disagree)} of {len(wide)} classes"
        + (": " + ", ".join(disagree["class"]) if 0 < len(disagree) <= 20 else "")
        + "."
    )
    return findings


_HOW_TO_READ = (
    "## How to read this",
    "",
    "Each model's verdicts come from its own probe run (linked above; each has its per-class "
    "drops, CIs and figures). A verdict compares a class's accuracy on intact clips with its "
    "accuracy under single-frame, shuffled and reversed input, so architectures that "
    "cannot use order (a bag of 2-D features) or motion (one RGB frame) are expected to "
    "differ by design; disagreement on a class is itself a finding about the class.",
    "",
)


def taxonomy_report(
    run_dir: str | Path,
    data: str | Path | None = None,
    title: str = "A single frame, a bag of frames, or an ordered sequence?",
) -> Path:
    """Tables, figures and ``report.md`` of a ``temporal_taxonomy`` study folder.

    Reads each model's probe run (``{model}/taxonomy.csv``, re-rendering its own report), and
    writes ``verdicts.csv`` (class x model), ``composition.csv`` and ``agreement.csv``
    (:func:`motionprobe.stats.verdict_composition`, :func:`~motionprobe.stats.verdict_agreement`),
    the ``taxonomy_composition`` figure and the report. Classes are stratified by Kowal et al.'s
    Kinetics-400 temporal / static subsets when the dataset has those classes, else by the
    ground-truth cue of synthetic data.

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
    runs = _model_runs(run_dir, config)
    taxes = {}
    for model, folder in runs.items():
        probe_report(folder, data=data, title=f"{model}: what makes a video a video")
        taxes[model] = pd.read_csv(folder / "taxonomy.csv", keep_default_na=False, na_values=[""])
    classes = list(dict.fromkeys(c for t in taxes.values() for c in t["class"].astype(str)))
    strata = class_strata(classes, temporal_static_subsets(find_setting(config, "subsets")), cues)
    wide = verdict_table(classes, taxes, strata)
    write_csv(run_dir / "verdicts.csv", wide)
    composition = verdict_composition(taxes, strata or None)
    write_csv(run_dir / "composition.csv", composition)
    agreement = verdict_agreement(taxes)
    write_csv(run_dir / "agreement.csv", agreement)
    plots.save_figure(
        plots.taxonomy_composition(composition), run_dir / "figures" / "taxonomy_composition"
    )

    models = list(runs)
    out = _run_section(title, runs, config, data)
    out += _composition_section(composition, runs)
    out += ["## Findings", "", *_model_findings(taxes, composition, strata, cues)]
    out += [*_agreement_findings(agreement, wide, models), "", "## Verdicts per class", ""]
    headers = ["class", *(["stratum"] if strata else []), *models]
    out += [frame_table(wide[headers]), ""]
    out += figure_links(run_dir)
    out += _HOW_TO_READ
    return write_text(run_dir / "report.md", "\n".join(out))


#: The architectures of the default: a 3-D CNN, an inflated Inception, and the two-stream I3D
#: (RGB + flow), the models the other studies train, so this one only probes. The ConvNet+LSTM
#: (``study_model("convnet_lstm", ...)``) is left out of the default for time: it learns the
#: controls slowly on a CPU (about 20 % after 5 of its 15 epochs); pass it with --checkpoint.
DEFAULT_MODELS = ("c3d", "i3d_rgb", "i3d_two_stream")
SMOKE_MODELS = ("c3d", "i3d_rgb")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's own options."""
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=None,
        metavar="[NAME=]PATH",
        help="a model to compare (repeat or comma-separate; default: the three default ones)",
    )
    parser.add_argument("--label-map", default=None, help="class-order file of the dataset")
    parser.add_argument("--subsets", default=None, help="temporal/static class subsets JSON")
    parser.add_argument("--split", default="test", help="split to probe")
    parser.add_argument("--seeds", default="0", help="seeds of the random interventions")


def run(ctx: StudyContext, args: argparse.Namespace) -> Path:
    """Probe every model with the same suite; the verdicts side by side in the report."""
    checkpoints = named_checkpoints(args.checkpoint)
    if not checkpoints:
        names = SMOKE_MODELS if ctx.smoke else DEFAULT_MODELS
        checkpoints = {n: ctx.model(n) for n in names}
    for name, checkpoint in checkpoints.items():
        run_probe(
            checkpoint,
            ctx.data,
            ctx.out / name,
            split=args.split,
            seeds=[int(s) for s in args.seeds.split(",")],
            device=ctx.device,
            workers=ctx.workers,
            label_map=args.label_map,
            overwrite=ctx.overwrite,
            truncated=ctx.truncated,
        )
    record_study(
        ctx.out,
        "temporal_taxonomy",
        vars(args),
        checkpoints={k: str(v) for k, v in checkpoints.items()},
        data=str(ctx.data),
        subsets=args.subsets,
    )
    print(f"temporal_taxonomy: {len(checkpoints)} models")
    return taxonomy_report(ctx.out)


STUDY = register_study(
    Study(
        "temporal_taxonomy",
        "Do architectures agree on which classes need time? Verdicts side by side.",
        run,
        report=taxonomy_report,
        add_arguments=add_arguments,
    )
)
