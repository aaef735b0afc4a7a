"""Static and dynamic units per layer: how much of each layer encodes appearance, how much motion.

After Kowal et al., "A Deeper Dive Into What Deep Spatiotemporal Networks Encode" (CVPR 2022).
For each model, pairs of clips that share appearance (the same clip with its frames shuffled) and
pairs that share motion (the same clip after a colour and texture change, a cheap substitute for
their video stylisation) are run through the network; each main stage's output, averaged over
time and space, gives per layer the share of static, dynamic and residual dimensions and each
unit's kind (static, dynamic, joint, neither). See :mod:`motionprobe.probes.bias`.

Default: the synthetic controls and the studies' shared models (C3D, RGB I3D, and the two-stream
I3D joining the RGB and flow I3Ds), trained into ``OUT/../models`` if missing. Writes
``OUT/{model}/`` (each model's tables and config), the combined ``OUT/layers.csv`` and
``OUT/units.csv`` (a ``model`` column), ``OUT/figures/`` and ``OUT/report.md``.

    python studies/static_dynamic_bias.py                        # synthetic controls
    python studies/static_dynamic_bias.py --smoke                # seconds once the models exist
    python studies/static_dynamic_bias.py --data K400 --checkpoint i3d=rgb.pt,c3d=c3d.pt \\
        --out runs/k400_bias --device cuda
    motionprobe report outputs/static_dynamic_bias               # re-render from the tables
"""

from __future__ import annotations

from pathlib import Path

from motionprobe.studies import run_study


def main(argv: list[str] | None = None) -> Path:
    """Run the study (its code is :mod:`motionprobe.studies.static_dynamic_bias`)."""
    return run_study("static_dynamic_bias", argv, prog=Path(__file__).name, epilog=__doc__)


if __name__ == "__main__":
    main()
