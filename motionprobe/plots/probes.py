"""Figures of a probing run: per-class drops and accuracies, static and dynamic units per layer."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from motionprobe.plots.common import (
    _NO_VERDICT,
    _NO_VERDICT_COLOR,
    CUE_COLORS,
    CUE_MARKERS,
    VERDICT_COLORS,
    _annotate_cells,
    _class_colors,
    _row_geometry,
)
from motionprobe.types import VERDICTS


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
    sub = _drops_by_class(per_class_df, taxonomy_df, intervention)
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

    marker_size = 5 if n <= 120 else 3
    present = _draw_drops(ax, sub, marker_size)
    sink_drawn = _draw_sinks(ax, sub, taxonomy_df, marker_size)
    ax.axvline(0.0, color="black", linewidth=0.8, zorder=0)
    ax.tick_params(axis="x", top=n > 40, labeltop=n > 40)
    ax.set_yticks(np.arange(n), sub["class"].tolist(), fontsize=fontsize)
    ax.set_ylim(n - 0.5, -0.5)  # first (largest drop) at the top
    ax.set_xlabel(f"accuracy drop under {intervention} (clean − {intervention})")
    ax.set_title(f"Per-class accuracy drop under {intervention} ({n} classes, 95% CI)")
    ax.grid(axis="x", alpha=0.3)
    _verdict_legend(fig, present, sink_drawn)
    if cue_ax is not None:
        _draw_cue_column(fig, cue_ax, sub, cues, marker_size)
    return fig


def _drops_by_class(
    per_class_df: pd.DataFrame, taxonomy_df: pd.DataFrame, intervention: str
) -> pd.DataFrame:
    """One row per class of ``intervention``, by descending drop, with its ``verdict`` column.

    Args:
        per_class_df: :func:`motionprobe.stats.per_class` output.
        taxonomy_df: ``class, verdict`` (classes it lacks get ``no verdict``).
        intervention: The intervention kept.

    Returns:
        The rows (``class`` as str), largest drop first, NaN drops last, ties by class name.
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
    return sub


def _draw_drops(ax: Axes, sub: pd.DataFrame, marker_size: float) -> list[str]:
    """One error-bar series per verdict (drop with its CI, row ``i`` at y = i).

    Args:
        ax: The main axes.
        sub: :func:`_drops_by_class` rows (``drop, ci_low, ci_high, verdict``).
        marker_size: Point size.

    Returns:
        The verdicts drawn, in :data:`~motionprobe.types.VERDICTS` order (``no verdict`` last).
    """
    y = np.arange(len(sub))
    drop = sub["drop"].to_numpy(dtype=float)
    low = sub["ci_low"].to_numpy(dtype=float)
    high = sub["ci_high"].to_numpy(dtype=float)
    xerr = np.vstack([np.clip(drop - low, 0, None), np.clip(high - drop, 0, None)])
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
    return present


def _draw_sinks(ax: Axes, sub: pd.DataFrame, taxonomy_df: pd.DataFrame, marker_size: float) -> bool:
    """Hollow rings over the classes the taxonomy marks a sink; whether any was drawn.

    Args:
        ax: The main axes.
        sub: :func:`_drops_by_class` rows.
        taxonomy_df: The taxonomy; without a ``sink`` column nothing is drawn.
        marker_size: Size of the error-bar points the rings surround.
    """
    if "sink" not in taxonomy_df.columns:
        return False
    sinks = set(
        taxonomy_df.loc[
            taxonomy_df["sink"].astype(str).str.lower().isin(["true", "1", "1.0"]), "class"
        ].astype(str)
    )
    mask = sub["class"].isin(sinks).to_numpy()
    if not mask.any():
        return False
    ax.scatter(
        sub["drop"].to_numpy(dtype=float)[mask],
        np.arange(len(sub))[mask],
        s=(marker_size * 1.6) ** 2,
        facecolors="white",
        edgecolors=[VERDICT_COLORS.get(v, _NO_VERDICT_COLOR) for v in sub["verdict"][mask]],
        linewidths=1.2,
        zorder=3,
    )
    return True


def _verdict_legend(fig: Figure, present: list[str], sink_drawn: bool) -> None:
    """The verdict legend above the axes (and the hollow sink marker when one was drawn)."""
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


def _draw_cue_column(
    fig: Figure, cue_ax: Axes, sub: pd.DataFrame, cues: Mapping[str, str], marker_size: float
) -> None:
    """Each row's ground-truth cue as a marker in the narrow right column, and its legend.

    Args:
        fig: The figure (gets the cue legend below the axes).
        cue_ax: The column's axes (y shared with the main axes).
        sub: :func:`_drops_by_class` rows.
        cues: ``{class: cue}``.
        marker_size: Point size of the main axes.
    """
    y = np.arange(len(sub))
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
