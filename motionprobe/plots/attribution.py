"""Figures of attribution over time, and the heat-map image helpers they and the runs share.

:func:`heatmap`, :func:`normalise_heat` and :func:`overlay_frames` turn attribution maps into
images; :mod:`motionprobe.attribution` uses them for its montages and animations (this module
never imports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from motionprobe.plots.common import (
    _NO_VERDICT_COLOR,
    CUE_COLORS,
    _class_colors,
    _row_geometry,
)

if TYPE_CHECKING:  # annotations only: the helpers call tensor methods, no torch at run time
    import torch


# --- heat-map images ---------------------------------------------------------------------------


def heatmap(attr: torch.Tensor) -> np.ndarray:
    """Per-pixel attribution magnitude ``(B, T, H, W)``: ``|attr|`` summed over channels.

    Args:
        attr: Attribution ``(B, C, T, H, W)`` (any device and float dtype).

    Returns:
        float32 ``(B, T, H, W)`` on the CPU.
    """
    return attr.detach().abs().float().sum(1).cpu().numpy()


def normalise_heat(heat: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Scale a clip's heat ``(T, H, W)`` to [0, 1] by its ``percentile`` over the whole clip.

    One scale for all frames, so frames stay comparable within the clip.

    Args:
        heat: ``(T, H, W)`` non-negative heat (:func:`heatmap` of one clip).
        percentile: The value mapped to 1 (larger values are clipped); when it is 0 the clip's
            maximum is used, and an all-zero clip stays 0.

    Returns:
        float32 ``(T, H, W)`` in [0, 1].
    """
    heat = np.asarray(heat, dtype=np.float32)
    top = float(np.percentile(heat, percentile)) if heat.size else 0.0
    if top <= 0:
        top = float(heat.max()) if heat.size and heat.max() > 0 else 1.0
    return np.clip(heat / top, 0.0, 1.0)


def overlay_frames(
    frames: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = "jet"
) -> np.ndarray:
    """Blend a heatmap over frames.

    Args:
        frames: uint8 ``(T, H, W, 3)``.
        heat: ``(T, H, W)`` (normalised per clip with :func:`normalise_heat`).
        alpha: Heat opacity at full heat (it scales with the heat, so cold pixels stay visible).
        cmap: Matplotlib colormap name.

    Returns:
        uint8 ``(T, H, W, 3)``.
    """
    h = normalise_heat(heat)
    colour = colormaps[cmap](h)[..., :3]
    a = (alpha * h)[..., None]
    out = (1 - a) * (np.asarray(frames, dtype=np.float32) / 255.0) + a * colour
    return np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)


# --- figures --------------------------------------------------------------------------------------

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
    :func:`motionprobe.plots.motion_dependence`, so 400 class names stay readable.

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
    cue_of = {str(k): v for k, v in (cues or {}).items()}
    names = _share_rows(df, measures[0], cue_of)
    row = {c: i for i, c in enumerate(names)}

    n = len(names)
    per_row, fontsize = _row_geometry(n)
    marker_size = 5 if n <= 120 else 3
    height = max(3.0, per_row * n + 1.6) + (0.5 if cues else 0.0)
    fig = Figure(figsize=(2.9 * len(measures) + 2.2, height), layout="constrained")
    axes = fig.subplots(1, len(measures), squeeze=False, sharey=True)[0]
    for ax, measure in zip(axes, measures, strict=True):
        sub = df[df["measure"] == measure]
        _share_panel(ax, sub, row, cue_of, marker_size)
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
        _cue_legend(fig, names, cue_of)
    default = f"Motion share of attribution per class ({n} classes, ± s.e.)"
    fig.suptitle(title or default, fontsize=11)
    return fig


def _share_rows(df: pd.DataFrame, first_measure: str, cue_of: Mapping[str, str]) -> list[str]:
    """The classes of :func:`motion_share_plot` in row order, top to bottom.

    Args:
        df: The shares (``class`` as str, no NaN share).
        first_measure: The measure that orders the rows within a cue group.
        cue_of: ``{class: cue}`` (empty without cues: one group).

    Returns:
        Class names by cue group (appearance, motion, order, unknown), then by the first
        measure's descending share; classes it lacks last in their group, in table order.
    """
    first = df[df["measure"] == first_measure].set_index("class")["share"]
    names = list(dict.fromkeys(df["class"]))
    group = {c: i for i, c in enumerate(CUE_COLORS)}
    # Classes the first measure lacks go to the bottom of their group, in table order.
    order = {c: i for i, c in enumerate(names)}
    names.sort(
        key=lambda c: (group.get(cue_of.get(c, ""), len(group)), -first.get(c, -np.inf), order[c])
    )
    return names


def _share_panel(
    ax: Axes,
    sub: pd.DataFrame,
    row: Mapping[str, int],
    cue_of: Mapping[str, str],
    marker_size: float,
) -> None:
    """One measure's panel: class means with s.e. bars, per-cue mean lines, fitted x range.

    Args:
        ax: The panel.
        sub: The measure's rows (``class, share`` and optionally ``sem``).
        row: ``{class: y}``.
        cue_of: ``{class: cue}``.
        marker_size: Point size.
    """
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


def _cue_legend(fig: Figure, names: list[str], cue_of: Mapping[str, str]) -> None:
    """Legend below the panels: the cues present among ``names`` and the cue-mean line."""
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
