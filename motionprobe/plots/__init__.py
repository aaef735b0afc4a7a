"""Figures of a probing run. Every figure function takes DataFrames and returns a matplotlib Figure.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through pyplot, so no
global pyplot state is created or left behind and no display backend is needed; saving uses the
Agg renderer (PNG) and the SVG backend.

* :mod:`~motionprobe.plots.common`: verdict and cue colours, :func:`save_figure`.
* :mod:`~motionprobe.plots.probes`: per-class drops and accuracies, static and dynamic units.
* :mod:`~motionprobe.plots.studies`: frames curve, where predictions go, RGB against flow,
  verdict composition, cue preference, agreement with the ground truth.
* :mod:`~motionprobe.plots.attribution`: attribution over time, and the heat-map image helpers
  (:func:`heatmap`, :func:`normalise_heat`, :func:`overlay_frames`) that
  :mod:`motionprobe.attribution` draws its montages and animations with. Nothing here imports
  :mod:`motionprobe.attribution`.

Every name is re-exported here: ``from motionprobe import plots; plots.NAME``.
"""

from motionprobe.plots.attribution import (
    heatmap,
    motion_share_plot,
    normalise_heat,
    overlay_frames,
    overlay_montage,
    stream_share_plot,
    temporal_profile_plot,
)
from motionprobe.plots.common import CUE_COLORS, CUE_MARKERS, VERDICT_COLORS, save_figure
from motionprobe.plots.probes import intervention_heatmap, motion_dependence, static_dynamic_plot
from motionprobe.plots.studies import (
    agreement_heatmap,
    cue_preference_plot,
    frames_curve_plot,
    gain_vs_dependence,
    rgb_flow_scatter,
    taxonomy_composition,
    where_heatmap,
)

__all__ = [
    "CUE_COLORS",
    "CUE_MARKERS",
    "VERDICT_COLORS",
    "agreement_heatmap",
    "cue_preference_plot",
    "frames_curve_plot",
    "gain_vs_dependence",
    "heatmap",
    "intervention_heatmap",
    "motion_dependence",
    "motion_share_plot",
    "normalise_heat",
    "overlay_frames",
    "overlay_montage",
    "rgb_flow_scatter",
    "save_figure",
    "static_dynamic_plot",
    "stream_share_plot",
    "taxonomy_composition",
    "temporal_profile_plot",
    "where_heatmap",
]
