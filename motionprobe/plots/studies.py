"""Figures of the studies: accuracy from k frames, where predictions go, RGB against flow,
verdicts per architecture, cue preference and agreement with the ground truth."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from motionprobe.plots.common import (
    _NO_VERDICT_COLOR,
    CUE_COLORS,
    CUE_MARKERS,
    VERDICT_COLORS,
    _annotate_cells,
    _row_geometry,
)
from motionprobe.types import VERDICTS

#: Line colour per way of filling a clip from k frames, line style per frame selection.
_METHOD_COLORS = {"held frames": "#8C8C8C", "generator": "#DD8452"}


_SELECTION_STYLES = {"none": "-", "max": "--", "oracle": ":"}


def frames_curve_plot(
    curve_df: pd.DataFrame, clean: tuple[float, float, float] | None = None, frames: int = 16
) -> Figure:
    """Accuracy versus the number of input frames k, one line per method and selection.

    Args:
        curve_df: :func:`motionprobe.stats.frames_curve` output (``method, k, selection, acc,
            ci_low, ci_high``).
        clean: ``(acc, ci_low, ci_high)`` of the full clips, drawn as a band at ``k = frames``
            and a dashed reference line.
        frames: The model's clip length (the x position of the full clip).

    Returns:
        The Figure: x is k on a log2 axis, y accuracy with 95 % CI bars.
    """
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for (method, selection), g in curve_df.groupby(["method", "selection"], sort=False):
        g = g.sort_values("k")
        err = np.vstack([g["acc"] - g["ci_low"], g["ci_high"] - g["acc"]]).clip(min=0)
        label = method if selection == "none" else f"{method} + select={selection}"
        ax.errorbar(
            g["k"],
            g["acc"],
            yerr=err,
            color=_METHOD_COLORS.get(method, "#4C72B0"),
            linestyle=_SELECTION_STYLES.get(selection, "-."),
            marker="o",
            capsize=3,
            label=label,
        )
    ks = sorted(set(curve_df["k"]) | {frames})
    if clean is not None and not np.isnan(clean[0]):
        acc, low, high = clean
        ax.axhline(acc, color="black", linestyle="--", linewidth=1, label=f"full clip ({frames} f)")
        ax.axhspan(low, high, color="black", alpha=0.08, linewidth=0)
        ax.plot([frames], [acc], marker="*", markersize=12, color="black", linestyle="none")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("input frames k (log scale)")
    ax.set_ylabel("accuracy (95 % CI)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Accuracy from k frames: held, generated, selected")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    return fig


def where_heatmap(
    where_df: pd.DataFrame, intervention: str, max_rows: int = 40, max_cols: int = 20
) -> Figure:
    """Where each class's clips are predicted under one intervention (rows true, columns predicted).

    With many classes the grid keeps the ``max_rows`` classes that lose the most clips to other
    classes and the ``max_cols`` predicted classes that receive the most clips overall; the rest
    of each row goes to an ``other`` column, so rows still sum to 1. A sink (a class that absorbs
    the clips of many others) shows as a bright column.

    Args:
        where_df: :func:`motionprobe.stats.where_predictions_go` output (``where.csv``).
        intervention: The intervention to show.
        max_rows: Most true classes shown.
        max_cols: Most predicted classes shown before ``other``.

    Returns:
        The Figure; the y tick labels are the true classes, the x tick labels the predictions.
    """
    df = where_df[where_df["intervention"].astype(str) == intervention].copy()
    if df.empty:
        raise ValueError(f"where table has no rows for intervention {intervention!r}")
    df["label"], df["pred"] = df["label"].astype(str), df["pred"].astype(str)
    grid = df.pivot_table(index="label", columns="pred", values="share", aggfunc="sum").fillna(0)
    classes = sorted(set(grid.index) | set(grid.columns))
    grid = grid.reindex(index=sorted(grid.index), columns=classes, fill_value=0.0)
    lost = 1.0 - pd.Series([grid.at[c, c] for c in grid.index], index=grid.index)
    rows = list(grid.index)
    if len(rows) > max_rows:
        rows = list(lost.sort_values(ascending=False, kind="stable").index[:max_rows])
    cols = list(grid.columns)
    if len(cols) > max_cols:
        cols = list(grid.sum(axis=0).sort_values(ascending=False, kind="stable").index[:max_cols])
    shown = grid.loc[rows, cols]
    if len(cols) < grid.shape[1]:
        shown = shown.assign(other=1.0 - shown.sum(axis=1))
    values = shown.to_numpy(dtype=float)

    n_rows, n_cols = values.shape
    per_row, fontsize = _row_geometry(max(n_rows, n_cols))
    fig = Figure(
        figsize=(max(5.0, per_row * n_cols + 3.5), max(3.5, per_row * n_rows + 2.2)),
        layout="constrained",
    )
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="magma", aspect="auto")
    ax.set_xticks(
        np.arange(n_cols), list(shown.columns), rotation=60, ha="right", fontsize=fontsize
    )
    ax.set_yticks(np.arange(n_rows), rows, fontsize=fontsize)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    scope = "" if len(rows) == grid.shape[0] else f" ({n_rows} classes losing most)"
    ax.set_title(f"Where predictions go under {intervention}{scope}")
    fig.colorbar(image, ax=ax, label="share of the class's clips", shrink=0.8)
    for i, cls in enumerate(rows):  # outline the correct cell of each row
        if cls in shown.columns:
            j = list(shown.columns).index(cls)
            ax.add_patch(
                Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#00B4D8", lw=1.2)
            )
    if n_rows * n_cols <= 400:
        _annotate_cells(ax, values, fontsize=6.5, min_value=0.05)
    return fig


def rgb_flow_scatter(
    gap_df: pd.DataFrame,
    cues: Mapping[str, str] | None = None,
    label_top: int = 12,
    min_gap: float = 0.1,
) -> Figure:
    """Per-class RGB accuracy (x) against flow accuracy (y), with the diagonal.

    Classes above the diagonal are recognised better from motion than from appearance. Points
    are coloured by ground-truth cue when known; the ``label_top`` classes farthest from the
    diagonal (at least ``min_gap`` off it) are named, so the figure stays legible with 400
    classes.

    Args:
        gap_df: One row per class with ``class, acc_rgb, acc_flow`` (``gap.csv`` of the
            rgb_vs_flow_gap study).
        cues: Optional ``{class: cue}``.
        label_top: Classes to name.
        min_gap: Smallest distance from the diagonal (accuracy points) of a named class.

    Returns:
        The Figure.
    """
    df = gap_df.copy()
    df["class"] = df["class"].astype(str)
    fig = Figure(figsize=(8.0, 6.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="black", linewidth=1, linestyle="--", zorder=0)
    size = 36 if len(df) <= 60 else 12
    if cues:
        for cue, g in df.groupby(df["class"].map(cues).fillna("unknown"), sort=True):
            ax.scatter(
                g["acc_rgb"],
                g["acc_flow"],
                s=size,
                marker=CUE_MARKERS.get(cue, "D"),
                color=CUE_COLORS.get(cue, _NO_VERDICT_COLOR),
                edgecolor="black",
                linewidth=0.4,
                label=f"cue: {cue}",
            )
        fig.legend(fontsize=8, loc="outside right upper")
    else:
        ax.scatter(df["acc_rgb"], df["acc_flow"], s=size, color="#4C72B0", alpha=0.8)
    far = df.assign(d=(df["acc_flow"] - df["acc_rgb"]).abs()).nlargest(label_top, "d")
    far = far[far["d"] >= min_gap]
    rng = np.random.default_rng(0)  # small fixed offsets keep overlapping names apart
    for r in far.itertuples(index=False):
        dx, dy = rng.uniform(-0.02, 0.02, 2)
        ax.annotate(
            r[df.columns.get_loc("class")],
            (r.acc_rgb, r.acc_flow),
            xytext=(r.acc_rgb + dx + 0.01, r.acc_flow + dy + 0.01),
            fontsize=7,
        )
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("RGB stream accuracy")
    ax.set_ylabel("flow stream accuracy")
    ax.set_title("Per class: appearance (RGB) against motion (flow)")
    ax.text(0.03, 0.97, "flow better", transform=ax.transAxes, va="top", fontsize=8, color="0.3")
    ax.text(0.55, 0.03, "RGB better", transform=ax.transAxes, ha="center", fontsize=8, color="0.3")
    return fig


def gain_vs_dependence(df: pd.DataFrame, cues: Mapping[str, str] | None = None) -> Figure:
    """Per class: what fusing flow adds (y) against how much the RGB model needs motion (x).

    Args:
        df: One row per class with ``class, gain`` (fused minus RGB accuracy) and ``dependence``
            (the RGB model's accuracy drop under the frozen frame).
        cues: Optional ``{class: cue}`` (marker and colour).

    Returns:
        The Figure, with the Spearman correlation in the title.
    """
    fig = Figure(figsize=(6.0, 4.5), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    groups = df.groupby(df["class"].astype(str).map(cues or {}).fillna("unknown"), sort=True)
    for cue, g in groups:
        ax.scatter(
            g["dependence"],
            g["gain"],
            s=30 if len(df) <= 60 else 10,
            marker=CUE_MARKERS.get(cue, "o"),
            color=CUE_COLORS.get(cue, "#4C72B0"),
            edgecolor="black",
            linewidth=0.4,
            label=f"cue: {cue}" if cues else None,
        )
    if cues:
        ax.legend(fontsize=8)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(0, color="black", linewidth=0.8)
    rho = df[["dependence", "gain"]].corr(method="spearman").iloc[0, 1] if len(df) > 2 else np.nan
    ax.set_xlabel("RGB model's drop under the frozen frame (motion dependence)")
    ax.set_ylabel("accuracy gained by fusing flow")
    ax.set_title(f"Does flow help where the RGB model needs motion? (Spearman ρ = {rho:.2f})")
    ax.grid(alpha=0.3)
    return fig


def taxonomy_composition(composition_df: pd.DataFrame) -> Figure:
    """Share of classes per verdict, one stacked bar per architecture (and stratum).

    Args:
        composition_df: Columns ``model, verdict, classes`` and optionally ``stratum`` (e.g.
            the Kinetics temporal / static subsets): one panel per stratum.

    Returns:
        The Figure; bars are labelled with the class counts.
    """
    df = composition_df.copy()
    if "stratum" not in df:
        df["stratum"] = "all classes"
    strata = list(dict.fromkeys(df["stratum"]))
    models = list(dict.fromkeys(df["model"]))
    fig = Figure(
        figsize=(7.5, 1.2 + 0.45 * len(models) * len(strata) + 0.4 * len(strata)),
        layout="constrained",
    )
    axes = fig.subplots(len(strata), 1, sharex=True, squeeze=False)[:, 0]
    for ax, stratum in zip(axes, strata, strict=True):
        sub = df[df["stratum"] == stratum]
        counts = sub.pivot_table(index="model", columns="verdict", values="classes", aggfunc="sum")
        counts = counts.reindex(index=models, columns=VERDICTS).fillna(0)
        shares = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0).fillna(0)
        left = np.zeros(len(models))
        for verdict in VERDICTS:
            w = shares[verdict].to_numpy()
            ax.barh(models, w, left=left, color=VERDICT_COLORS[verdict], label=verdict)
            for y, (x0, wi, n) in enumerate(zip(left, w, counts[verdict], strict=True)):
                if wi >= 0.06:
                    ax.text(
                        x0 + wi / 2,
                        y,
                        str(int(n)),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white",
                    )
            left += w
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_title(
            f"{stratum} ({int(counts.sum(axis=1).max())} classes)", fontsize=10, loc="left"
        )
    axes[-1].set_xlabel("share of classes")
    axes[0].legend(ncols=4, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.15))
    fig.suptitle("Per-class verdicts by architecture")
    return fig


def cue_preference_plot(taxonomy_df: pd.DataFrame, cues: Mapping[str, str] | None = None) -> Figure:
    """Per class, the share of cue-conflict clips that follow its appearance, the partner's
    motion, or neither, as stacked horizontal bars, with the preference named on the right.

    Args:
        taxonomy_df: ``class, follows_appearance, follows_motion, cue_preference`` (a taxonomy).
        cues: Optional ground-truth cue per class, appended to the class name.
    """
    df = taxonomy_df.dropna(subset=["follows_appearance"]).reset_index(drop=True)
    fig = Figure(figsize=(7.5, 0.9 + 0.28 * max(len(df), 1)))
    ax = fig.add_subplot()
    y = np.arange(len(df))
    app = df["follows_appearance"].to_numpy(float)
    mot = df["follows_motion"].to_numpy(float)
    ax.barh(y, app, color="#4c72b0", label="follows its appearance")
    ax.barh(y, mot, left=app, color="#dd8452", label="follows the partner's motion")
    ax.barh(y, 1 - app - mot, left=app + mot, color="#cccccc", label="neither")
    names = [f"{c} ({cues[c]})" if cues and c in cues else str(c) for c in df["class"].astype(str)]
    ax.set_yticks(y, names, fontsize=8)
    for i, pref in enumerate(df["cue_preference"].astype(str)):
        ax.text(1.01, i, pref, va="center", fontsize=7, transform=ax.get_yaxis_transform())
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of cue-conflict clips")
    ax.legend(ncols=3, fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0))
    ax.set_title("Cue preference: which cue wins when a clip carries both", fontsize=9, pad=22)
    fig.tight_layout()
    return fig


def agreement_heatmap(table: pd.DataFrame, title: str = "") -> Figure:
    """Family x axis share of classes whose verdict or axis matches the ground truth.

    Args:
        table: ``family, axis, agree, classes`` (pooled over seeds), as in ``agreement.csv``.
        title: Figure title.
    """
    pooled = table.groupby(["family", "axis"], sort=False)[["agree", "classes"]].sum()
    share = (pooled["agree"] / pooled["classes"]).unstack("axis")
    counts = pooled.unstack("axis")
    fig = Figure(figsize=(1.6 + 1.5 * share.shape[1], 0.9 + 0.55 * share.shape[0]))
    ax = fig.add_subplot()
    im = ax.imshow(share.to_numpy(float), vmin=0.5, vmax=1.0, cmap="RdYlGn", aspect="auto")
    for (i, j), v in np.ndenumerate(share.to_numpy(float)):
        fam, axis = share.index[i], share.columns[j]
        n_ok, n = counts.at[fam, ("agree", axis)], counts.at[fam, ("classes", axis)]
        ax.text(j, i, f"{100 * v:.0f} %\n{n_ok:.0f}/{n:.0f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(share.shape[1]), share.columns)
    ax.set_yticks(range(share.shape[0]), share.index)
    ax.set_xlabel("axis")
    ax.set_ylabel("control family")
    fig.colorbar(im, ax=ax, label="agreement with the ground truth")
    ax.set_title(title or "Verdicts against the ground truth", fontsize=10)
    fig.tight_layout()
    return fig
