"""Attribution over time: where in time does the evidence a model uses lie, how much is motion?

:func:`attribution_report` renders a study folder (one
:func:`motionprobe.attribution.run_attribution` folder per model) from its tables alone; the
table computations it uses are public for notebooks.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from motionprobe import plots
from motionprobe.attribution import METHODS, run_attribution
from motionprobe.attribution.tables import (
    attribution_measures,
    cue_means,
    read_attribution_run,
    spearman_pairs,
    where_in_time,
)
from motionprobe.data.synthetic import load_cues
from motionprobe.io import record_study, skipped, write_text
from motionprobe.report import MISSING, describe, markdown_table, read_config
from motionprobe.studies.base import Study, register_study
from motionprobe.studies.context import StudyContext, named_checkpoints

# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------

#: Classes per temporal-profile panel: more lines than this are no longer told apart.
_PROFILE_PAGE = 12


def _safe_name(name: str) -> str:
    """A class or model name as a file name (the rule of the attribution montages)."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(name))


def _share_pm(mean: float, sem: float) -> str:
    """``48.0 % (± 5.1)`` in percent points; the bracket is left out without a standard error."""
    if pd.isna(mean):
        return MISSING
    return f"{100 * mean:.1f} %" + ("" if pd.isna(sem) else f" (± {100 * sem:.1f})")


def profile_pages(
    profiles: pd.DataFrame, cues: Mapping[str, str]
) -> list[tuple[str, list[str], str]]:
    """Pages of a model's temporal-profile figure: ``(suffix, classes, title note)``.

    One page per cue when cues are known (else one page); a page with more than
    :data:`_PROFILE_PAGE` classes keeps the least flat ones (L1 distance of the mean profile from
    flat on the first stream), so 400 classes still give a readable figure.

    Args:
        profiles: A model's ``class_profiles.csv``.
        cues: ``{class: cue}``, or empty when unknown.
    """
    df = profiles.copy()
    df["class"] = df["class"].astype(str)
    if "stream" in df:
        df = df[df["stream"].astype(str) == str(df["stream"].iloc[0])]
    t = max(int(df["frame"].nunique()), 1)
    dist = df.groupby("class", sort=False)["mean"].apply(lambda m: float(np.abs(m - 1 / t).sum()))
    names = list(dist.index)
    groups = [
        (c, [n for n in names if cues.get(n) == c]) for c in ("appearance", "motion", "order")
    ]
    groups = [(c, g) for c, g in groups if g] if cues else []
    rest = [n for n in names if not cues or cues.get(n) not in ("appearance", "motion", "order")]
    if rest:
        groups.append(("other" if groups else "", rest))
    pages = []
    for cue, group in groups:
        notes = [f"{cue} classes"] if cue else []
        if len(group) > _PROFILE_PAGE:
            top = set(dist[group].sort_values(ascending=False).index[:_PROFILE_PAGE])
            kept = f"{_PROFILE_PAGE} least flat of {len(group)}"
            notes.append(kept if cue else f"{kept} classes")
            group = [n for n in group if n in top]
        pages.append((f"_{cue}" if cue else "", group, ", ".join(notes)))
    return pages


def _cue_finding(
    model: str, kind: str, shares: pd.DataFrame, cues: Mapping[str, str], method: str
) -> str:
    """One paragraph: a measure per cue, and whether motion-defined classes exceed appearance.

    Args:
        model: Model name.
        kind: ``temporal share`` or ``flow share``.
        shares: The measure's rows of :func:`attribution_measures` (one per class).
        cues: ``{class: cue}``.
        method: Attribution method, for the text.
    """
    means = cue_means(shares, cues).set_index("cue")
    parts = [f"{cue} classes {_share_pm(r['mean'], r['sem'])}" for cue, r in means.iterrows()]
    what = (
        "its temporal part (selective relevance: where the relevance changes over time)"
        if kind == "temporal share"
        else "the flow input"
    )
    text = (
        f"**{model}, {kind}.** With {method}, the share of the attribution mass on {what} is: "
        + "; ".join(parts)
        + " (mean over a cue's classes ± standard error over classes)."
    )
    cue_of = shares["class"].map(cues)
    app = shares.loc[cue_of.eq("appearance"), "share"].dropna().to_numpy(dtype=float)
    # Motion and order classes pooled: both need more than one frame.
    moving = shares.loc[cue_of.isin(["motion", "order"]), "share"].dropna().to_numpy(dtype=float)
    if len(app) and len(moving):
        diff = float(moving.mean() - app.mean())
        se = (
            float(np.sqrt(app.var(ddof=1) / len(app) + moving.var(ddof=1) / len(moving)))
            if len(app) > 1 and len(moving) > 1
            else np.nan
        )
        if np.isnan(se) or se == 0:
            verdict = "without a standard error to judge it by (one class of a kind)"
        elif abs(diff) > 2 * se:
            verdict = (
                f"more than twice its standard error ({100 * se:.1f}): as the ground truth predicts"
                if diff > 0
                else f"more than twice its standard error ({100 * se:.1f}): the opposite of "
                "what the ground truth predicts"
            )
        else:
            verdict = (
                f"within twice its standard error ({100 * se:.1f}): not distinguishable at this "
                "sample size"
            )
        text += (
            f" Classes defined by motion or order average {100 * moving.mean():.1f} %, "
            f"{100 * abs(diff):.1f} points {'above' if diff >= 0 else 'below'} the appearance "
            f"classes ({100 * app.mean():.1f} %); the difference is {verdict}."
        )
    return text


# --------------------------------------------------------------------------------------------
# report sections
# --------------------------------------------------------------------------------------------


def _study_models(run_dir: Path, config: Mapping[str, Any]) -> list[str]:
    """The model subfolders: in the study's checkpoint order, then the others sorted."""
    found = {p.parent.name for p in run_dir.glob("*/class_summary.csv")}
    order = [m for m in (config.get("checkpoints") or {}) if m in found]
    models = order + sorted(found - set(order))
    if not models:
        raise FileNotFoundError(
            f"{run_dir}: no model subfolder with class_summary.csv; is this an "
            "attribution_over_time folder?"
        )
    return models


def _study_cues(runs: Mapping[str, dict], data: str | Path | None) -> dict[str, str]:
    """``{class: cue}`` from ``data``'s ``classes.json``, else from the tables' ``cue`` column."""
    cues: dict[str, str] = load_cues(data) if data is not None else {}
    if not cues:
        for run in runs.values():
            s = run["summary"]
            if "cue" in s:
                known = s.dropna(subset=["cue"])
                cues.update(zip(known["class"].astype(str), known["cue"].astype(str), strict=True))
    return cues


def _draw_figures(
    run_dir: Path,
    runs: Mapping[str, dict],
    measures: pd.DataFrame,
    cues: Mapping[str, str],
    method: Mapping[str, str],
) -> list[tuple[str, str]]:
    """Draw the profile pages of every model and the motion-share figure; return
    ``(stem relative to run_dir, caption)`` per figure, the motion share first."""
    fig_dir = run_dir / "figures"
    figures: list[tuple[str, str]] = []
    for model, run in runs.items():
        for suffix, names, note in profile_pages(run["profiles"], cues):
            stem = f"profiles_{_safe_name(model)}{suffix}"
            head = f"{model} ({method[model]}): per-frame share"
            fig = plots.temporal_profile_plot(
                run["profiles"],
                classes=names,
                # A page of one cue says so in its title; line styles by cue would all be alike.
                cues=None if suffix else cues or None,
                title=head + (f", {note}" if note else ""),
            )
            plots.save_figure(fig, fig_dir / stem)
            figures.append((f"figures/{stem}", head + (f", {note}" if note else "")))
    fig = plots.motion_share_plot(measures, cues=cues or None)
    plots.save_figure(fig, fig_dir / "motion_share")
    figures.insert(0, ("figures/motion_share", "Motion share of attribution per class"))
    return figures


def _intro_lines(title: str) -> list[str]:
    """The title and the question."""
    return [
        f"# {title}",
        "",
        "Per class: where in time does the evidence a model uses lie, and how much of it is "
        "motion? Attributions of the true class's logit (or the predicted one, see each "
        "model's target) are summed over pixels per frame; the temporal share is the part that "
        "changes over time (selective relevance, Hiley et al. 2020); for two-stream models the "
        "flow share is the part on the optical-flow input.",
        "",
    ]


def _run_facts(config: Mapping[str, Any], runs: Mapping[str, dict]) -> list[str]:
    """Dataset, smoke run, device and git commit, as a Markdown list."""
    params = config.get("study_params") or {}
    facts = []
    data_used = params.get("data") or next(
        (r["config"].get("data") for r in runs.values() if r["config"].get("data")), None
    )
    facts.append(f"- **Dataset:** {data_used or 'not recorded'}")
    for label, key in (("Smoke run", "smoke"), ("Device", "device")):
        if key in params:
            facts.append(f"- **{label}:** {describe(params[key])}")
    provenance = config.get("provenance") or {}
    commit = provenance.get("git_commit") or next(
        (r["config"].get("git_commit") for r in runs.values() if r["config"].get("git_commit")),
        None,
    )
    if commit:
        facts.append(f"- **Git commit:** {commit}")
    return facts


def _model_rows(
    config: Mapping[str, Any], runs: Mapping[str, dict], method: Mapping[str, str]
) -> tuple[list[tuple], dict[str, float]]:
    """One row per model of the ``What was run`` table, and each model's accuracy."""
    rows = []
    acc_of: dict[str, float] = {}
    for model, run in runs.items():
        cfg, clips = run["config"], run["clips"]
        opts = cfg.get("options") or {}
        steps = opts.get("steps") if method[model] == "integrated_gradients" else None
        acc = float((clips["pred"] == clips["label"]).mean()) if len(clips) else np.nan
        acc_of[model] = acc
        rows.append(
            (
                model,
                cfg.get("model", MISSING),
                method[model] + (f" ({steps} steps)" if steps else ""),
                cfg.get("target", MISSING),
                clips["label"].nunique(),
                len(clips),
                _share_pm(acc, np.nan),
                skipped(run["bad"]),
                cfg.get("checkpoint", (config.get("checkpoints") or {}).get(model, MISSING)),
            )
        )
    return rows, acc_of


def _run_section(
    config: Mapping[str, Any], runs: Mapping[str, dict], method: Mapping[str, str]
) -> list[str]:
    """``## What was run``: the facts, one row per model, and a caution for weak models."""
    out = ["## What was run", "", *_run_facts(config, runs), ""]
    rows, acc_of = _model_rows(config, runs, method)
    headers = ["model", "architecture", "method", "target", "classes", "clips", "accuracy"]
    headers += ["bad items", "checkpoint"]
    out += [markdown_table(rows, headers), ""]
    out += [
        "Accuracy is the share of the attributed clips the model classifies correctly; a "
        "model's explanations of a class it does not recognise say little.",
        "",
    ]
    weak = [(m, r[6]) for m, r in zip(runs, rows, strict=True) if acc_of[m] < 0.5]
    if weak:
        out += [
            "**Caution:** "
            + ", ".join(f"{m} classifies only {a} of its clips correctly" for m, a in weak)
            + "; their maps explain guesses more than learned evidence (an undertrained or smoke "
            "model).",
            "",
        ]
    return out


def _cue_spread_note(model: str, mine: pd.Series) -> list[str]:
    """A note when a temporal share barely varies between cues (``mine``: its per-cue means)."""
    spread = float(mine.max() - mine.min())
    if not (len(mine) > 1 and spread < 0.05):
        return []
    # The threshold is relative to each clip's own derivative, so the kept share can sit at the
    # same level whatever the clip shows.
    return [
        f"The temporal share of {model} barely varies between cues ("
        f"{_share_pm(float(mine.min()), np.nan)} – "
        f"{_share_pm(float(mine.max()), np.nan)}): selective relevance thresholds "
        "each clip's derivative at a multiple of its own standard deviation and so "
        "keeps a similar part of any clip's mass; here it does not tell motion from "
        "appearance.",
        "",
    ]


def _range_finding(model: str, kind: str, sub: pd.DataFrame) -> list[str]:
    """Without cues: a measure's median, range, and highest and lowest classes."""
    s = sub.dropna(subset=["share"]).sort_values("share", ascending=False)
    top = ", ".join(
        f"{r['class']} ({_share_pm(r['share'], np.nan)})" for _, r in s.head(3).iterrows()
    )
    low = ", ".join(
        f"{r['class']} ({_share_pm(r['share'], np.nan)})" for _, r in s.tail(3)[::-1].iterrows()
    )
    return [
        f"**{model}, {kind}.** Over {len(s)} classes the median is "
        f"{_share_pm(float(s['share'].median()), np.nan)} (range "
        f"{_share_pm(float(s['share'].min()), np.nan)} – "
        f"{_share_pm(float(s['share'].max()), np.nan)}). Highest: {top}; lowest: {low}.",
        "",
    ]


def _measure_findings(
    measures: pd.DataFrame,
    per_cue: pd.DataFrame,
    cues: Mapping[str, str],
    method: Mapping[str, str],
) -> list[str]:
    """One finding per measure: per cue when cues are known, else its range over classes."""
    out: list[str] = []
    for measure, sub in measures.groupby("measure", sort=False):
        model, kind = sub["model"].iloc[0], sub["kind"].iloc[0]
        if len(per_cue) and (per_cue["measure"] == measure).any():
            out += [_cue_finding(model, kind, sub, cues, method[model]), ""]
            if kind == "temporal share":
                out += _cue_spread_note(model, per_cue[per_cue["measure"] == measure]["mean"])
        else:
            out += _range_finding(model, kind, sub)
        if kind == "flow share":
            out += [
                "The flow input has 2 channels against RGB's 3 and the share is not corrected "
                "for that, so compare flow shares between classes rather than with 50 %.",
                "",
            ]
    return out


def _where_paragraph(model: str, w: pd.DataFrame, cues: Mapping[str, str]) -> str:
    """Where in time a model's evidence lies, from ``w``: :func:`where_in_time` joined with the
    summary's ``entropy``: entropy, the most and least concentrated classes, the middle frames'
    share and, with cues, the mean entropy per cue."""
    t = int(w["frames"].max())
    tight = w.sort_values("entropy").iloc[0]
    flat = w.sort_values("entropy").iloc[-1]
    text = (
        f"**Where in time ({model}).** Mean normalised entropy of the per-frame profile "
        f"over classes: {w['entropy'].mean():.3f} (1 = the same share on every one of the "
        f"{t} frames, 0 = all on one frame). The most concentrated class is "
        f"{tight['class']} (entropy {tight['entropy']:.3f}; peak at frame "
        f"{int(tight['peak_frame'])} with {_share_pm(tight['peak_share'], np.nan)} of the "
        f"mass, {tight['peak_share'] * t:.1f}x the flat {_share_pm(1 / t, np.nan)}); the "
        f"flattest is {flat['class']} ({flat['entropy']:.3f})."
    )
    centre = float(w["centre_share"].mean())
    if not np.isnan(centre):
        middle = t - 2 * (t // 4)
        text += (
            f" The middle {middle} frames hold {_share_pm(centre, np.nan)} of the mass on "
            f"average ({_share_pm(middle / t, np.nan)} if flat)"
            + (
                ": the evidence sits in the middle of the clip, its borders count less."
                if centre > middle / t + 0.05
                else "."
            )
        )
    if cues:
        ent = w.assign(cue=w["class"].map(cues)).dropna(subset=["cue"])
        parts = [
            f"{cue} {g['entropy'].mean():.3f}"
            for cue in ("appearance", "motion", "order")
            if len(g := ent[ent["cue"] == cue])
        ]
        if parts:
            text += " Mean entropy per cue: " + ", ".join(parts) + "."
    return text


def _where_findings(
    runs: Mapping[str, dict], where: Mapping[str, pd.DataFrame], cues: Mapping[str, str]
) -> list[str]:
    """One :func:`_where_paragraph` per model whose summary has entropies."""
    out: list[str] = []
    for model, run in runs.items():
        w = where[model].merge(run["summary"][["class", "entropy"]], on="class", how="left")
        w = w.dropna(subset=["entropy"])
        if w.empty:
            continue
        out += [_where_paragraph(model, w, cues), ""]
    return out


def _agreement_finding(measures: pd.DataFrame) -> list[str]:
    """The Spearman correlations between measures, when any pair has enough classes."""
    pairs = spearman_pairs(measures)
    if not pairs:
        return []
    return [
        "**Agreement between measures.** Spearman rank correlation over classes: "
        + "; ".join(f"{a} vs {b}: ρ = {rho:.2f} ({n} classes)" for a, b, rho, n in pairs)
        + ". A high ρ means the models single out the same classes as motion-reliant.",
        "",
    ]


def _per_cue_section(per_cue: pd.DataFrame) -> list[str]:
    """``### Per cue``: the table of :func:`cue_means`, when cues are known."""
    if not len(per_cue):
        return []
    return [
        "### Per cue",
        "",
        markdown_table(
            [
                (r.measure, r.cue, r.classes, _share_pm(r.mean, r.sem))
                for r in per_cue.itertuples(index=False)
            ],
            ["measure", "cue", "classes", "mean (± s.e. over classes)"],
        ),
        "",
    ]


def _sanity_rows(
    runs: Mapping[str, dict], method: Mapping[str, str]
) -> tuple[list[tuple], list[str]]:
    """One row per model of the sanity table, and the warnings of the checks that fail."""
    rows = []
    warnings = []
    for model, run in runs.items():
        rand = run["sanity"].get("randomisation", {})
        ig = run["sanity"].get("ig_completeness", {})
        rows.append(
            (
                model,
                rand.get("method", method[model]),
                len(rand.get("per_clip", [])),
                rand.get("correlation", np.nan),
                rand.get("correlation_signed", np.nan),
                rand.get("threshold", np.nan),
                bool(rand.get("passed")) if "passed" in rand else None,
                _share_pm(ig.get("median_relative_error", np.nan), np.nan),
                _share_pm(ig.get("max_relative_error", np.nan), np.nan),
                ig.get("source", MISSING),
            )
        )
        if rand and not rand.get("passed"):
            warnings.append(
                f"The randomisation test **failed** for {model} (ρ = "
                f"{rand.get('correlation', float('nan')):.2f} ≥ {rand.get('threshold', 0.5)}): "
                "its maps change little when the weights are re-drawn, so they show the input's "
                "structure more than what the model learned; read its numbers with caution."
            )
        if ig.get("median_relative_error", 0.0) > 0.05:
            warnings.append(
                f"Integrated Gradients misses completeness for {model} (median relative error "
                f"{_share_pm(ig['median_relative_error'], np.nan)}): use more steps."
            )
    return rows, warnings


def _sanity_section(runs: Mapping[str, dict], method: Mapping[str, str]) -> list[str]:
    """``## Sanity checks``: parameter randomisation and IG completeness per model."""
    rows, warnings = _sanity_rows(runs, method)
    headers = ["model", "method", "clips", "ρ |attr|", "ρ signed", "threshold", "passed"]
    headers += ["IG error (median)", "IG error (max)", "IG source"]
    out = [
        "## Sanity checks",
        "",
        "Parameter randomisation (Adebayo et al. 2018): the maps of the trained model are "
        "compared with those of a copy whose weights are re-drawn (Spearman ρ of |attribution| "
        "per clip); maps that survive it do not explain the model. Input-times-gradient methods "
        "(IG, DeepLift) keep part of the input's structure whatever the weights, so their ρ "
        "stays higher than a gradient's. Completeness: Integrated Gradients' attributions "
        "should add up to the logit difference from the baseline; the relative error measures "
        "how well the steps approximate the integral.",
        "",
        markdown_table(rows, headers),
        "",
    ]
    for text in warnings or ["All checks passed."]:
        out += [text, ""]
    return out


def _measure_tables(measures: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{measure: share and sem by class}``, in the measures' order."""
    return {
        m: sub.set_index("class")[["share", "sem"]]
        for m, sub in measures.groupby("measure", sort=False)
    }


def _per_class_section(
    measures: pd.DataFrame,
    runs: Mapping[str, dict],
    where: Mapping[str, pd.DataFrame],
    cues: Mapping[str, str],
) -> list[str]:
    """``## Per class``: every measure, entropy, peak frame and clips correct, per class
    (sorted by the first measure, highest first)."""
    names = list(dict.fromkeys(measures["class"]))
    first = measures[measures["measure"] == measures["measure"].iloc[0]].set_index("class")
    names.sort(key=lambda c: -first["share"].get(c, -np.inf))
    wide = _measure_tables(measures)
    headers = ["class"] + (["cue"] if cues else []) + list(wide)
    headers += [f"{m}: entropy" for m in runs] + [f"{m}: peak frame (share)" for m in runs]
    headers += [f"{m}: correct" for m in runs]
    rows = []
    for c in names:
        row: list[Any] = [c] + ([cues.get(c)] if cues else [])
        for table in wide.values():
            row.append(_share_pm(*table.loc[c]) if c in table.index else MISSING)
        for run in runs.values():
            s = run["summary"].set_index("class")
            row.append(s.at[c, "entropy"] if c in s.index else np.nan)
        for m in runs:
            w = where[m].set_index("class")
            row.append(
                f"{int(w.at[c, 'peak_frame'])} ({_share_pm(w.at[c, 'peak_share'], np.nan)})"
                if c in w.index
                else MISSING
            )
        for run in runs.values():
            mine = run["clips"][run["clips"]["label"] == c]
            row.append(f"{int((mine['pred'] == c).sum())}/{len(mine)}" if len(mine) else MISSING)
        rows.append(row)
    return ["## Per class", "", markdown_table(rows, headers), ""]


def _figure_section(figures: list[tuple[str, str]]) -> list[str]:
    """``## Figures``: each figure's PNG with its caption and a link to its SVG."""
    out = ["## Figures", ""]
    for stem, caption in figures:
        out += [f"![{caption}]({stem}.png) ([SVG]({stem}.svg))", ""]
    return out


def _montage_section(run_dir: Path, runs: Mapping[str, dict], measures: pd.DataFrame) -> list[str]:
    """``## Montages``: per model, the classes of highest and lowest share, and links to all."""
    wide = _measure_tables(measures)
    out = [
        "## Montages",
        "",
        "Heatmaps of |attribution| over the frames of one clip per class (the first clip "
        "attributed), one block of rows per input stream; each panel gives its frame's share.",
        "",
    ]
    for model, run in runs.items():
        montages = {
            c: f"{model}/figures/montage_{_safe_name(c)}.png"
            for c in run["summary"]["class"].astype(str)
            if (run_dir / model / "figures" / f"montage_{_safe_name(c)}.png").is_file()
        }
        if not montages:
            out += [f"{model}: no montages.", ""]
            continue
        kind = "flow share" if f"{model}: flow share" in wide else "temporal share"
        share = wide[f"{model}: {kind}"]["share"].reindex(list(montages)).dropna()
        shown = list(dict.fromkeys([share.idxmax(), share.idxmin()])) if len(share) else []
        for c in shown:
            which = "highest" if c == shown[0] else "lowest"
            caption = f"{model}: {c}, the {which} {kind} ({_share_pm(share[c], np.nan)})"
            out += [f"![{caption}]({montages[c]})", ""]
        out += [
            f"{model}, every montage: " + " · ".join(f"[{c}]({p})" for c, p in montages.items()),
            "",
        ]
    return out


def _how_to_read_section(runs: Mapping[str, dict]) -> list[str]:
    """``## How to read this``: the measures, with the runs' selective-relevance thresholds."""
    sigmas = sorted({float(r["config"].get("sigma", 1.0)) for r in runs.values()})
    return [
        "## How to read this",
        "",
        "- **Per-frame share:** a clip's |attribution| summed over channels and pixels (and "
        "streams) per frame, divided by its total, then averaged over the class's clips; a flat "
        "profile gives every frame 1/T. **Entropy** is that profile's Shannon entropy over "
        "log T (1 = flat).",
        "- **Temporal share** (selective relevance, Hiley et al. 2020): the relevance (the "
        "attribution summed over channels) is kept where its smoothed temporal derivative exceeds "
        f"{' or '.join(f'{v:g}' for v in sigmas)} times that derivative's standard deviation over "
        "the clip; the share is the kept |attribution| over the total. The threshold is relative "
        "to each clip, so even a clip without motion keeps some: compare classes and cues with "
        "each other rather than with 0.",
        "- **Flow share** (two-stream models): |attribution| on the flow input over that on both "
        "inputs.",
        "- Attributions are taken with respect to the normalised model inputs with a baseline of "
        "zeros there (the preset's mean colour for RGB, no motion for flow). Standard errors are "
        "over a class's clips in the per-class table and over classes in the per-cue means.",
        "",
    ]


def attribution_report(
    run_dir: str | Path,
    data: str | Path | None = None,
    title: str = "Where in time the evidence lies",
) -> Path:
    """Figures and ``report.md`` of an ``attribution_over_time`` study, from its tables alone.

    The study folder holds one :func:`motionprobe.attribution.run_attribution` folder per model
    (``{run_dir}/{model}/``: ``clips.csv``, ``class_summary.csv``, ``class_profiles.csv``,
    ``sanity.json``, montages). This reads those tables (it never runs a model) and writes to
    ``run_dir``:

    * ``figures/profiles_{model}[_{cue}].{png,svg}``: per-class mean share of the attribution
      per frame (one page per ground-truth cue when known; at most 12 classes a page, the least
      flat ones).
    * ``figures/motion_share.{png,svg}``: per class, every model's temporal share and the
      two-stream models' flow share side by side, coloured by cue.
    * ``report.md``: what was run, findings written from the numbers (per-cue means with
      standard errors when cues are known), the sanity checks (parameter randomisation, IG
      completeness), the per-class table, the figures and links to the montages.

    Args:
        run_dir: The study's results folder.
        data: Dataset root whose ``classes.json`` gives the ground-truth cues; default: the
            ``cue`` column of the saved tables (present when the dataset had one).
        title: Report title.

    Returns:
        The path of ``report.md``.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    runs = {m: read_attribution_run(run_dir / m) for m in _study_models(run_dir, config)}
    cues = _study_cues(runs, data)
    measures = attribution_measures(runs)
    where = {m: where_in_time(r["profiles"]) for m, r in runs.items()}
    method = {m: str(r["config"].get("method", "attribution")) for m, r in runs.items()}
    figures = _draw_figures(run_dir, runs, measures, cues, method)

    per_cue = cue_means(measures, cues) if cues else pd.DataFrame()
    out = _intro_lines(title)
    out += _run_section(config, runs, method)
    out += ["## Findings", ""]
    out += _measure_findings(measures, per_cue, cues, method)
    out += _where_findings(runs, where, cues)
    out += _agreement_finding(measures)
    out += _per_cue_section(per_cue)
    out += _sanity_section(runs, method)
    out += _per_class_section(measures, runs, where, cues)
    out += _figure_section(figures)
    out += _montage_section(run_dir, runs, measures)
    out += _how_to_read_section(runs)
    return write_text(run_dir / "report.md", "\n".join(out))


#: The default models: a single-stream 3-D CNN and the two-stream I3D.
MODELS = ("c3d", "i3d_two_stream")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's own options."""
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=None,
        help="model to attribute, name=path or path; repeat or comma-separate "
        f"(default: train {', '.join(MODELS)})",
    )
    parser.add_argument("--method", choices=METHODS, default="integrated_gradients",
                        help="attribution method")  # fmt: skip
    parser.add_argument("--clips-per-class", type=int, default=None, help="default 4 (smoke: 1)")
    parser.add_argument("--steps", type=int, default=None, help="IG steps, default 16 (smoke: 4)")
    parser.add_argument("--split", default="test", help="split to attribute")


def run(ctx: StudyContext, args: argparse.Namespace) -> Path:
    """Attribute every model's decisions on the same clips; compare them in the report."""
    if args.clips_per_class is None:
        args.clips_per_class = 1 if ctx.smoke else 4
    if args.steps is None:
        args.steps = 4 if ctx.smoke else 16
    if args.checkpoint:
        checkpoints = named_checkpoints(args.checkpoint)
    else:
        checkpoints = {name: ctx.model(name) for name in MODELS}
    # Smoke runs only exercise the code: one sanity clip, few montages, no animations.
    extra = dict(sanity_clips=1, examples=3, video_format=None) if ctx.smoke else {}
    for name, checkpoint in checkpoints.items():
        run_attribution(checkpoint, ctx.data, ctx.out / name, split=args.split,
                        method=args.method, clips_per_class=args.clips_per_class,
                        device=ctx.device, steps=args.steps, overwrite=ctx.overwrite,
                        truncated=ctx.truncated, **extra)  # fmt: skip
    params = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    params["data"] = str(ctx.data)
    checkpoints = {name: str(path) for name, path in checkpoints.items()}
    record_study(ctx.out, "attribution_over_time", params, checkpoints=checkpoints)
    return attribution_report(ctx.out, data=ctx.data)


STUDY = register_study(
    Study(
        "attribution_over_time",
        "Where in time does the evidence lie? Per class, attribution over frames, and its "
        "motion share.",
        run,
        report=attribution_report,
        add_arguments=add_arguments,
        shared=("data",),
    )
)
