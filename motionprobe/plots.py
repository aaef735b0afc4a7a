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
        for i, j in np.ndindex(values.shape):
            v = values[i, j]
            if np.isnan(v):
                continue
            ax.text(
                j,
                i,
                f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="black" if v > 0.6 else "white",
            )
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
