"""Figures of a probing run. Every function takes DataFrames and returns a matplotlib Figure.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through pyplot, so no
global pyplot state is created or left behind and no display backend is needed; saving uses the
Agg renderer (PNG) and the SVG backend.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from motionprobe.io import atomic_path
from motionprobe.types import VERDICTS

#: Fixed colour per verdict (same in every figure).
VERDICT_COLORS = {
    "single_frame": "#4C72B0",
    "bag_of_frames": "#55A868",
    "ordered_sequence": "#C44E52",
    "inconclusive": "#8C8C8C",
}
_NO_VERDICT = "no verdict"
_NO_VERDICT_COLOR = "#D0D0D0"

#: Marker per ground-truth cue; coloured like the verdict the cue should produce.
CUE_MARKERS = {"appearance": "o", "motion": "s", "order": "^"}
CUE_COLORS = {
    "appearance": VERDICT_COLORS["single_frame"],
    "motion": VERDICT_COLORS["bag_of_frames"],
    "order": VERDICT_COLORS["ordered_sequence"],
}


def _row_geometry(n_rows: int) -> tuple[float, float]:
    """(inches per row, tick font size) so that both 14 and 400 rows stay readable."""
    if n_rows <= 40:
        return 0.28, 9.0
    if n_rows <= 120:
        return 0.2, 7.0
    return 0.15, 5.5


def motion_dependence(
    per_class_df: pd.DataFrame,
    taxonomy_df: pd.DataFrame,
    intervention: str = "freeze",
    cues: Mapping[str, str] | None = None,
) -> Figure:
    """Accuracy drop per class under one intervention, with CIs, coloured by verdict.

    One row per class, sorted by drop (largest at the top); a point at the drop with its bootstrap
    CI as a horizontal error bar, coloured by the class's taxonomy verdict (hollow when the
    taxonomy marks the class a sink); a zero line. With
    ``cues`` (synthetic data) a narrow column on the right shows each class's ground-truth cue as a
    marker coloured like the verdict that cue should produce.

    Args:
        per_class_df: :func:`motionprobe.stats.per_class` output.
        taxonomy_df: :func:`motionprobe.stats.taxonomy` output (``class, verdict``).
        intervention: Which intervention's drop to show.
        cues: Optional ``{class: cue}`` ground truth.

    Returns:
        The Figure; its main axes' y tick labels are the class names, top to bottom in
        descending drop order.
    """
    sub = per_class_df[per_class_df["intervention"].astype(str) == intervention]
    if sub.empty:
        raise ValueError(f"no rows for intervention {intervention!r} in the per-class table")
    sub = sub.drop_duplicates("class").copy()
    sub["class"] = sub["class"].astype(str)
    sub = sub.sort_values(["drop", "class"], ascending=[False, True], na_position="last")
    verdicts = dict(
        zip(taxonomy_df["class"].astype(str), taxonomy_df["verdict"].astype(str), strict=True)
    )
    sub["verdict"] = sub["class"].map(verdicts).fillna(_NO_VERDICT)

    n = len(sub)
    per_row, fontsize = _row_geometry(n)
    height = max(3.0, per_row * n + 1.6) + 0.7 + (0.6 if cues else 0.0)  # + legends
    fig = Figure(figsize=(8.0 if cues else 7.0, height), layout="constrained")
    if cues:
        gs = fig.add_gridspec(1, 2, width_ratios=[12, 1])
        ax = fig.add_subplot(gs[0, 0])
        cue_ax = fig.add_subplot(gs[0, 1], sharey=ax)
    else:
        ax = fig.add_subplot(1, 1, 1)
        cue_ax = None

    y = np.arange(n)
    drop = sub["drop"].to_numpy(dtype=float)
    low = sub["ci_low"].to_numpy(dtype=float)
    high = sub["ci_high"].to_numpy(dtype=float)
    xerr = np.vstack([np.clip(drop - low, 0, None), np.clip(high - drop, 0, None)])
    marker_size = 5 if n <= 120 else 3
    present = []
    for verdict in [*VERDICTS, _NO_VERDICT]:
        mask = (sub["verdict"] == verdict).to_numpy()
        if not mask.any():
            continue
        present.append(verdict)
        color = VERDICT_COLORS.get(verdict, _NO_VERDICT_COLOR)
        ax.errorbar(
            drop[mask],
            y[mask],
            xerr=xerr[:, mask],
            fmt="o",
            color=color,
            ecolor=color,
            markersize=marker_size,
            elinewidth=1.2,
            capsize=0,
            label=verdict.replace("_", " "),
        )
    sink_drawn = False
    if "sink" in taxonomy_df.columns:
        sinks = set(
            taxonomy_df.loc[
                taxonomy_df["sink"].astype(str).str.lower().isin(["true", "1", "1.0"]), "class"
            ].astype(str)
        )
        mask = sub["class"].isin(sinks).to_numpy()
        if mask.any():
            sink_drawn = True
            ax.scatter(
                drop[mask],
                y[mask],
                s=(marker_size * 1.6) ** 2,
                facecolors="white",
                edgecolors=[VERDICT_COLORS.get(v, _NO_VERDICT_COLOR) for v in sub["verdict"][mask]],
                linewidths=1.2,
                zorder=3,
            )
    ax.axvline(0.0, color="black", linewidth=0.8, zorder=0)
    ax.tick_params(axis="x", top=n > 40, labeltop=n > 40)
    ax.set_yticks(y, sub["class"].tolist(), fontsize=fontsize)
    ax.set_ylim(n - 0.5, -0.5)  # first (largest drop) at the top
    ax.set_xlabel(f"accuracy drop under {intervention} (clean − {intervention})")
    ax.set_title(f"Per-class accuracy drop under {intervention} ({n} classes, 95% CI)")
    ax.grid(axis="x", alpha=0.3)
    handles = [
        Line2D([], [], marker="o", color=VERDICT_COLORS.get(v, _NO_VERDICT_COLOR),
               label=v.replace("_", " "))
        for v in present
    ]  # fmt: skip
    if sink_drawn:
        handles.append(
            Line2D([], [], marker="o", linestyle="", markerfacecolor="white",
                   markeredgecolor="#555555", label="sink (hollow)")
        )  # fmt: skip
    fig.legend(
        handles=handles,
        title="verdict",
        loc="outside upper center",
        ncol=min(len(handles), 3),
        fontsize=8,
        title_fontsize=8,
    )

    if cue_ax is not None:
        cue_of = sub["class"].map({str(k): v for k, v in cues.items()})
        for cue, marker in CUE_MARKERS.items():
            mask = (cue_of == cue).to_numpy()
            if mask.any():
                cue_ax.scatter(
                    np.zeros(mask.sum()),
                    y[mask],
                    marker=marker,
                    color=CUE_COLORS[cue],
                    s=marker_size * 6,
                )
        cue_ax.set_xlim(-1, 1)
        cue_ax.set_xticks([0], ["cue"])
        cue_ax.tick_params(axis="y", left=False, labelleft=False)
        for side in ("top", "right", "left"):
            cue_ax.spines[side].set_visible(False)
        handles = [
            Line2D([], [], marker=m, linestyle="", color=CUE_COLORS[c], label=c)
            for c, m in CUE_MARKERS.items()
        ]
        fig.legend(
            handles=handles,
            title="ground-truth cue",
            loc="outside lower center",
            ncol=3,
            fontsize=8,
            title_fontsize=8,
        )
    return fig


def intervention_heatmap(per_class_df: pd.DataFrame) -> Figure:
    """Class x intervention accuracy heatmap, ``clean`` as the first column.

    The clean accuracy is taken from each class's first intervention row (``acc_clean``, paired
    clips). Cells are annotated with their value when the grid is small (at most 300 cells).

    Args:
        per_class_df: :func:`motionprobe.stats.per_class` output.

    Returns:
        The Figure (one row per class, in the table's order).
    """
    df = per_class_df.copy()
    df["class"] = df["class"].astype(str)
    df["intervention"] = df["intervention"].astype(str)
    classes = list(dict.fromkeys(df["class"]))
    ivs = list(dict.fromkeys(df["intervention"]))
    clean = df.drop_duplicates("class").set_index("class")["acc_clean"]
    acc = df.pivot_table(index="class", columns="intervention", values="acc", aggfunc="first")
    acc = acc.reindex(index=classes, columns=ivs)
    acc.insert(0, "clean", clean.reindex(classes).to_numpy())
    values = acc.to_numpy(dtype=float)

    n_rows, n_cols = values.shape
    per_row, fontsize = _row_geometry(n_rows)
    fig = Figure(
        figsize=(max(4.5, 1.0 * n_cols + 3.0), max(3.0, per_row * n_rows + 1.8)),
        layout="constrained",
    )
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(
        np.ma.masked_invalid(values), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto"
    )
    ax.set_xticks(np.arange(n_cols), list(acc.columns), rotation=30, ha="right")
    ax.set_yticks(np.arange(n_rows), classes, fontsize=fontsize)
    ax.set_title("Accuracy per class and intervention")
    fig.colorbar(image, ax=ax, label="accuracy", shrink=0.8)
    if n_rows * n_cols <= 300:
        _annotate_cells(ax, values, fontsize=7)
    return fig


def _annotate_cells(ax, values: np.ndarray, fontsize: float, min_value: float = -np.inf) -> None:
    """Write each finite cell's value (at least ``min_value``) on a [0, 1] heatmap."""
    for i, j in np.ndindex(values.shape):
        v = values[i, j]
        if np.isfinite(v) and v >= min_value:
            color = "black" if v > 0.6 else "white"
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=fontsize, color=color)


# --- studies: frames, where predictions go, RGB vs flow, taxonomy composition ------------------

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


def save_figure(fig: Figure, path_stem: str | Path) -> list[Path]:
    """Write ``{stem}.png`` (dpi 150) and ``{stem}.svg`` atomically, then close the figure.

    Args:
        fig: The figure.
        path_stem: Path without suffix; parent folders are created.

    Returns:
        The two written paths, PNG first.
    """
    stem = Path(path_stem)
    paths = []
    for suffix, kwargs in ((".png", {"dpi": 150}), (".svg", {})):
        path = stem.with_name(stem.name + suffix)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix[1:], **kwargs)
        paths.append(path)
    if "matplotlib.pyplot" in sys.modules:  # release it if a caller made it through pyplot
        sys.modules["matplotlib.pyplot"].close(fig)
    return paths


# --- attribution over time (motionprobe.attribution) --------------------------------------------

_STREAM_TITLES = {"all": "all inputs", "rgb": "RGB stream", "flow": "flow stream"}


def temporal_profile_plot(
    class_profiles_df: pd.DataFrame,
    top_k: int = 12,
    classes: list[str] | None = None,
    cues: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Per-class mean share of attribution per frame, with standard-error bands.

    One line per class (legend on the right), a dashed line at the flat profile ``1/T``; one
    panel per ``stream`` when the table has that column (two-stream runs: all, RGB, flow). With
    more than ``top_k`` classes only the ``top_k`` least flat ones (largest L1 distance of the
    mean profile from flat, on the first panel) are drawn, and the title says so; pass
    ``classes`` to choose them (paging). With ``cues`` the line style follows the class's cue
    (solid appearance, dashed motion, dotted order).

    Args:
        class_profiles_df: :func:`motionprobe.attribution.class_profiles` output (``class, frame,
            mean, sem``; optional ``stream``).
        top_k: Most classes drawn.
        classes: Classes to draw (overrides ``top_k``).
        cues: Optional ``{class: cue}`` ground truth.
        title: Figure title.

    Returns:
        The Figure; the legend labels are the class names drawn (with their cue if given).
    """
    df = class_profiles_df.copy()
    df["class"] = df["class"].astype(str)
    if "stream" not in df:
        df["stream"] = "all"
    streams = list(dict.fromkeys(df["stream"].astype(str)))
    names = list(dict.fromkeys(df["class"]))
    note = ""
    if classes is not None:
        names = [c for c in classes if c in set(names)]
    elif len(names) > top_k:
        first = df[df["stream"] == streams[0]]
        t = first["frame"].nunique()
        dist = first.groupby("class")["mean"].apply(lambda m: float(np.abs(m - 1 / t).sum()))
        keep = set(dist.sort_values(ascending=False).index[:top_k])
        names = [c for c in names if c in keep]
        note = f" ({top_k} least flat of {len(dist)} classes)"
    styles = {"appearance": "-", "motion": "--", "order": ":"}
    fig = Figure(figsize=(4.2 * len(streams) + 2.2, 3.6), layout="constrained")
    axes = fig.subplots(1, len(streams), squeeze=False, sharey=True)[0]
    colors = _class_colors(len(names))
    for ax, stream in zip(axes, streams, strict=True):
        sub = df[df["stream"] == stream]
        t = int(sub["frame"].max()) + 1 if len(sub) else 1
        for name, color in zip(names, colors, strict=True):
            rows = sub[sub["class"] == name].sort_values("frame")
            if rows.empty:
                continue
            x = rows["frame"].to_numpy()
            y = rows["mean"].to_numpy(dtype=float)
            e = np.nan_to_num(rows["sem"].to_numpy(dtype=float))
            cue = (cues or {}).get(name)
            label = f"{name} ({cue})" if cue else name
            ax.plot(x, y, styles.get(cue or "", "-"), color=color, lw=1.5, label=label)
            ax.fill_between(x, y - e, y + e, color=color, alpha=0.15, lw=0)
        ax.axhline(1 / t, color="0.4", ls="--", lw=0.8)
        ax.set_xlabel("frame")
        ax.set_title(_STREAM_TITLES.get(stream, stream), fontsize=10)
        ax.set_xlim(0, max(t - 1, 1))
    axes[0].set_ylabel("share of |attribution|")
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7, frameon=False)
    fig.suptitle((title or "Attribution per frame") + note, fontsize=11)
    return fig


def _class_colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def stream_share_plot(summary_df: pd.DataFrame, cues: Mapping[str, str] | None = None) -> Figure:
    """Per class, the share of attribution mass on the flow input of a two-stream model.

    Horizontal bars (mean over the class's clips, standard error as error bars), sorted by share
    (largest at the top), coloured by ground-truth cue when ``cues`` is given; a line at 0.5.

    Args:
        summary_df: ``class_summary.csv`` of an attribution run (``class, flow_share,
            flow_share_sem``).
        cues: Optional ``{class: cue}``.

    Returns:
        The Figure; y tick labels are the class names, top to bottom by descending share.
    """
    sub = summary_df.dropna(subset=["flow_share"]).sort_values("flow_share", ascending=False)
    n = len(sub)
    per_row, fontsize = _row_geometry(n)
    fig = Figure(figsize=(6.0, max(2.5, per_row * n + 1.4)), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(n)
    cue_of = {str(k): v for k, v in (cues or {}).items()}
    names = sub["class"].astype(str).tolist()
    colors = [CUE_COLORS.get(cue_of.get(c, ""), _NO_VERDICT_COLOR) for c in names]
    err = sub["flow_share_sem"].to_numpy(dtype=float) if "flow_share_sem" in sub else None
    ax.barh(y, sub["flow_share"].to_numpy(dtype=float), xerr=err, color=colors, ecolor="0.3")
    ax.axvline(0.5, color="0.4", ls="--", lw=0.8)
    ax.set_yticks(y, names, fontsize=fontsize)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of |attribution| on flow")
    if cues:
        present = [c for c in CUE_COLORS if c in set(cue_of.get(n_, "") for n_ in names)]
        handles = [Line2D([], [], color=CUE_COLORS[c], lw=6) for c in present]
        ax.legend(handles, present, title="cue", fontsize=8, loc="lower right")
    ax.set_title("Flow share of attribution per class", fontsize=11)
    return fig


def motion_share_plot(
    shares_df: pd.DataFrame,
    cues: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Per class, each model's motion share of attribution side by side, one panel per measure.

    A measure is e.g. one model's temporal share (selective relevance) or a two-stream model's
    flow share. One row per class, shared by all panels and sorted by the first measure (largest
    at the top); with ``cues`` the rows are grouped by cue first (appearance, motion, order,
    unknown; thin lines between the groups), so the separation of the cues shows in every panel.
    A point at the class mean with its standard error as a horizontal bar, coloured by cue (grey
    without ``cues``), and in each panel a dashed vertical line per cue at the mean over that
    cue's classes. Each panel's axis runs from 0 to just above its largest value (at most 1), so
    small shares stay apart. Rows shrink with the number of classes as in
    :func:`motion_dependence`, so 400 class names stay readable.

    Args:
        shares_df: Tidy table ``class, measure, share, sem`` (``sem`` may be NaN); measures are
            drawn in order of first appearance.
        cues: Optional ``{class: cue}``.
        title: Figure title.

    Returns:
        The Figure; each panel's title is its measure and the first panel's y tick labels are
        the class names, top to bottom (by cue group, then by the first measure's descending
        share).
    """
    df = shares_df.dropna(subset=["share"]).copy()
    if df.empty:
        raise ValueError("no share to plot (the table is empty or all NaN)")
    df["class"] = df["class"].astype(str)
    measures = list(dict.fromkeys(df["measure"].astype(str)))
    first = df[df["measure"] == measures[0]].set_index("class")["share"]
    names = list(dict.fromkeys(df["class"]))
    cue_of = {str(k): v for k, v in (cues or {}).items()}
    group = {c: i for i, c in enumerate(CUE_COLORS)}
    # Classes the first measure lacks go to the bottom of their group, in table order.
    order = {c: i for i, c in enumerate(names)}
    names.sort(
        key=lambda c: (group.get(cue_of.get(c, ""), len(group)), -first.get(c, -np.inf), order[c])
    )
    row = {c: i for i, c in enumerate(names)}

    n = len(names)
    per_row, fontsize = _row_geometry(n)
    marker_size = 5 if n <= 120 else 3
    height = max(3.0, per_row * n + 1.6) + (0.5 if cues else 0.0)
    fig = Figure(figsize=(2.9 * len(measures) + 2.2, height), layout="constrained")
    axes = fig.subplots(1, len(measures), squeeze=False, sharey=True)[0]
    for ax, measure in zip(axes, measures, strict=True):
        sub = df[df["measure"] == measure]
        y = sub["class"].map(row).to_numpy()
        x = sub["share"].to_numpy(dtype=float)
        err = np.nan_to_num(sub["sem"].to_numpy(dtype=float)) if "sem" in sub else None
        colors = [CUE_COLORS.get(cue_of.get(c, ""), _NO_VERDICT_COLOR) for c in sub["class"]]
        ax.errorbar(x, y, xerr=err, fmt="none", ecolor="0.55", elinewidth=1.0, capsize=0)
        ax.scatter(x, y, c=colors, s=marker_size**2 * 1.6, zorder=3, edgecolors="none")
        for cue, color in CUE_COLORS.items():
            mine = sub["class"].map(cue_of).eq(cue).to_numpy()
            if mine.any():
                ax.axvline(float(x[mine].mean()), color=color, ls="--", lw=1.0, alpha=0.8)
        top = np.nanmax(x + (err if err is not None else 0.0))
        ax.set_xlim(0, min(1.0, max(0.1, np.ceil(10 * top + 0.5) / 10)))
        if cues:
            bounds = [i for i in range(1, n) if cue_of.get(names[i]) != cue_of.get(names[i - 1])]
            for b in bounds:
                ax.axhline(b - 0.5, color="0.75", lw=0.6)
        ax.set_title(measure, fontsize=10)
        ax.set_xlabel("share of |attribution|")
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", top=n > 40, labeltop=n > 40)
    axes[0].set_yticks(np.arange(n), names, fontsize=fontsize)
    axes[0].set_ylim(n - 0.5, -0.5)
    if cues:
        present = [c for c in CUE_COLORS if c in set(cue_of.get(c_, "") for c_ in names)]
        handles = [
            Line2D([], [], marker="o", linestyle="", color=CUE_COLORS[c], label=c) for c in present
        ]
        handles.append(Line2D([], [], color="0.4", ls="--", label="mean of the cue's classes"))
        fig.legend(
            handles=handles,
            title="ground-truth cue",
            loc="outside lower center",
            ncol=len(handles),
            fontsize=8,
            title_fontsize=8,
        )
    default = f"Motion share of attribution per class ({n} classes, ± s.e.)"
    fig.suptitle(title or default, fontsize=11)
    return fig


def overlay_montage(
    frames: np.ndarray | list[np.ndarray],
    heat: np.ndarray | list[np.ndarray],
    max_frames: int = 16,
    columns: int = 8,
    alpha: float = 0.5,
    cmap: str = "jet",
    row_labels: list[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Heatmaps over a clip's frames as a grid: a block of rows per stream, frames in reading order.

    Each stream's heat is scaled by its 99th percentile over the whole clip, so frames are
    comparable within a stream; each panel title gives the frame index and that frame's share of
    the stream's total heat.

    Args:
        frames: uint8 ``(T, H, W, 3)`` or a list of them (e.g. RGB frames and colour-coded flow).
        heat: ``(T, H, W)`` per stream (e.g. ``|attr|`` summed over channels).
        max_frames: Frames shown, evenly spaced.
        columns: Frames per grid row.
        alpha: Heat opacity at full heat.
        cmap: Colormap of the heat.
        row_labels: Names of the streams.
        title: Figure title.

    Returns:
        The Figure.
    """
    from motionprobe.attribution import overlay_frames

    streams = [frames] if isinstance(frames, np.ndarray) else list(frames)
    heats = [heat] if isinstance(heat, np.ndarray) else list(heat)
    if len(streams) != len(heats):
        raise ValueError(f"{len(streams)} frame streams but {len(heats)} heat streams")
    t = streams[0].shape[0]
    shown = np.unique(np.linspace(0, t - 1, min(max_frames, t)).round().astype(int))
    cols = min(columns, len(shown))
    per_stream = -(-len(shown) // cols)
    n_rows = per_stream * len(streams)
    fig = Figure(figsize=(1.2 * cols + 0.6, 1.3 * n_rows + 0.5), layout="constrained")
    axes = fig.subplots(n_rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for s, (f, h) in enumerate(zip(streams, heats, strict=True)):
        h = np.asarray(h, dtype=np.float32)
        blended = overlay_frames(f, h, alpha, cmap)
        share = h.sum((1, 2)) / max(float(h.sum()), 1e-30)
        for i, k in enumerate(shown):
            ax = axes[s * per_stream + i // cols, i % cols]
            ax.set_axis_on()
            ax.imshow(blended[k])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"t={k} {share[k]:.0%}", fontsize=7)
            if i % cols == 0 and row_labels:
                ax.set_ylabel(row_labels[s], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


# --- static and dynamic units per layer (motionprobe.probes.bias) --------------------------------

#: Line style per factor in :func:`static_dynamic_plot`.
_FACTOR_STYLES = {"static": ("-", "o"), "dynamic": ("--", "s")}


def static_dynamic_plot(layers_df: pd.DataFrame) -> Figure:
    """Share of static and dynamic information per layer, one colour per model (and stream).

    Left: the share of the layer's dimensions that encode each factor (``static`` and ``dynamic``
    of :func:`motionprobe.probes.bias.layer_bias`; the residual share is the rest). Right: the
    share of the layer's units that are static or dynamic (joint units are counted in neither
    line). Solid lines are static, dashed lines dynamic; the last point of each static line is
    labelled with its layer. A share of dimensions is a softmax against a residual score of 1, so
    it stays below e / (2e + 1/e) = 0.47 even for a layer that encodes one factor only.

    Args:
        layers_df: ``layers.csv`` of the static_dynamic_bias study: ``model, stream, layer, depth,
            channels, static, dynamic, units_static, units_dynamic``.

    Returns:
        The Figure: x is the layer's relative depth in its network, y a share in [0, 1].
    """
    df = layers_df.copy()
    stream = df["stream"].fillna("").astype(str) if "stream" in df else pd.Series("", df.index)
    model = df["model"].astype(str)
    df["series"] = model.where(stream == "", model + " / " + stream)
    series = list(dict.fromkeys(df["series"]))
    colors = dict(zip(series, _class_colors(len(series)), strict=True))
    fig = Figure(figsize=(11.0, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    panels = (
        ("static", "dynamic", "share of dimensions", "Dimensions encoding each factor", 0.5),
        ("units_static", "units_dynamic", "share of units", "Static and dynamic units", 1.0),
    )
    for ax, (static_col, dynamic_col, ylabel, title, top) in zip(axes, panels, strict=True):
        for name in series:
            g = df[df["series"] == name].sort_values("depth")
            scale = g["channels"].to_numpy(float) if static_col.startswith("units_") else 1.0
            for factor, col in (("static", static_col), ("dynamic", dynamic_col)):
                style, marker = _FACTOR_STYLES[factor]
                ax.plot(
                    g["depth"],
                    g[col].to_numpy(float) / scale,
                    linestyle=style,
                    marker=marker,
                    markersize=4,
                    color=colors[name],
                )
            if static_col == "static" and len(g):
                last = g.iloc[-1]
                ax.annotate(
                    str(last["layer"]).removeprefix(f"{last['stream']}.")
                    if isinstance(last.get("stream"), str) and last["stream"]
                    else str(last["layer"]),
                    (last["depth"], last["static"]),
                    xytext=(4, 0),
                    textcoords="offset points",
                    fontsize=6.5,
                    color=colors[name],
                    va="center",
                )
        ax.set_xlabel("relative layer depth (0 = first layer, 1 = last)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, top * 1.02)
        ax.set_xlim(-0.05, 1.2)
        ax.set_xticks(np.linspace(0, 1, 6))
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=colors[n], linewidth=2, label=n) for n in series]
    handles += [
        Line2D([], [], color="black", linestyle=s, marker=m, markersize=4, label=f)
        for f, (s, m) in _FACTOR_STYLES.items()
    ]
    fig.legend(handles=handles, fontsize=8, loc="outside right upper")
    fig.suptitle("Static and dynamic information per layer (unit: correlation > 0.5)", fontsize=11)
    return fig
