"""What every figure shares: the colours of verdicts and cues, row geometry, saving.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through pyplot, so no
global pyplot state is created or left behind and no display backend is needed; saving uses the
Agg renderer (PNG) and the SVG backend.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from motionprobe.io import atomic_path

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


def _annotate_cells(
    ax: Axes, values: np.ndarray, fontsize: float, min_value: float = -np.inf
) -> None:
    """Write each finite cell's value (at least ``min_value``) on a [0, 1] heatmap.

    Args:
        ax: The heatmap's axes (cell ``(i, j)`` drawn at x = j, y = i).
        values: ``(rows, columns)`` cell values.
        fontsize: Font size of the numbers.
        min_value: Smaller values are left blank.
    """
    for i, j in np.ndindex(values.shape):
        v = values[i, j]
        if np.isfinite(v) and v >= min_value:
            color = "black" if v > 0.6 else "white"
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=fontsize, color=color)


def _class_colors(n: int) -> list:
    """``n`` distinct RGBA colours: ``tab10`` up to 10, else ``tab20`` (cycled past 20)."""
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


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
