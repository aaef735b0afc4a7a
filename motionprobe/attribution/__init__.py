"""Attribution over time with Captum: which frames, which pixels, and how much comes from motion.

One entry point, :func:`attribute`, runs a Captum method (or Grad-CAM on a 3-D layer) on a batch
of clips and returns maps of the input's shape; the rest of the package turns maps into numbers
over time (per-frame profiles, their entropy, selective relevance, the flow share of two-stream
models), checks them (parameter randomisation, Integrated Gradients completeness) and draws them
(heatmap overlays as images and animations, with :mod:`motionprobe.plots`).
:func:`run_attribution` does all of it for a checkpoint on a dataset split and writes a results
folder.

* :mod:`~motionprobe.attribution.methods`: the method table (:data:`METHOD_SPECS`),
  :func:`attribute`, :func:`gradcam`, frame removal and memory planning.
* :mod:`~motionprobe.attribution.measures`: per-frame profiles, entropy, selective relevance,
  flow share, completeness.
* :mod:`~motionprobe.attribution.sanity`: the model-parameter randomisation test.
* :mod:`~motionprobe.attribution.run`: :func:`run_attribution` and its heatmap animations.

Every public name is re-exported here (``from motionprobe.attribution import attribute``),
including the heat-map image helpers that live in :mod:`motionprobe.plots`.

Conventions (see METHODS.md, "Representations and attributions"):

* **Inputs are normalised model inputs**, what ``model.forward`` takes (apply
  ``model.normalize`` to pixel-unit clips first), and attributions are with respect to them. This
  keeps Captum's completeness exact (the flow preset's clamp at +-20 px would otherwise zero some
  gradients) and makes the default baseline simple: **zeros in normalised space** (mid-grey for
  I3D RGB, the preset's mean colour for C3D, no motion for flow).
* Multi-input (two-stream) models take a tuple ``(rgb, flow)`` and get a tuple of maps of the same
  shapes. Targets are logit indices; models run in ``eval()`` mode with their parameters frozen,
  and both states are restored afterwards.
* **Removing a frame.** A fixed-length 3-D CNN cannot be run on a subsequence, so frame ablation,
  frame Shapley values and occlusion *replace* frames. ``remove="mean"`` (default) puts the clip's
  temporal mean frame in their place (per stream: the mean flow field for flow): the average
  appearance and brightness stay, the frame's own content and the motion it carries go, and the
  clip with every frame removed is one static mean image. ``"zero"`` uses the normalised zero;
  ``"neighbour"`` the previous frame (frame 0: frame 1), i.e. a stutter, which is closest to
  natural video for one frame but makes the all-removed clip a one-frame shift of the original,
  so Shapley values under it say little.
* **Two-stream perturbations** treat the RGB and the flow of a time step as separate players
  (``joint_streams=False``), so each stream gets its own per-frame values and the flow share is
  meaningful for every method; ``joint_streams=True`` removes both together.
"""

from motionprobe.attribution.measures import (
    class_profiles,
    completeness,
    frame_mass,
    frame_profile,
    selective_relevance,
    stream_share,
    temporal_derivative,
    temporal_entropy,
)
from motionprobe.attribution.methods import (
    BACKWARD_HEADROOM,
    DEFAULT_MEMORY_MB,
    FRAME_METHODS,
    GRADCAM_METHODS,
    GRADIENT_METHODS,
    METHOD_SPECS,
    METHODS,
    REMOVALS,
    SMOOTHING,
    MethodSpec,
    Tensors,
    attribute,
    frame_masks,
    gradcam,
    removal_baseline,
    row_bytes,
)
from motionprobe.attribution.run import (
    AttributionConfig,
    AttributionResult,
    run_attribution,
    write_heatmap_video,
)
from motionprobe.attribution.sanity import randomisation_test, randomise_parameters
from motionprobe.plots.attribution import heatmap, normalise_heat, overlay_frames

__all__ = [
    "BACKWARD_HEADROOM",
    "DEFAULT_MEMORY_MB",
    "FRAME_METHODS",
    "GRADCAM_METHODS",
    "GRADIENT_METHODS",
    "METHODS",
    "METHOD_SPECS",
    "MethodSpec",
    "REMOVALS",
    "SMOOTHING",
    "Tensors",
    "attribute",
    "class_profiles",
    "completeness",
    "frame_mass",
    "frame_masks",
    "frame_profile",
    "gradcam",
    "heatmap",
    "normalise_heat",
    "overlay_frames",
    "randomisation_test",
    "randomise_parameters",
    "removal_baseline",
    "row_bytes",
    "AttributionConfig",
    "AttributionResult",
    "run_attribution",
    "selective_relevance",
    "stream_share",
    "temporal_derivative",
    "temporal_entropy",
    "write_heatmap_video",
]
