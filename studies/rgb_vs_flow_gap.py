"""The RGB-versus-flow gap (Carreira & Zisserman, CVPR 2017), overall and per class.

Trains (or takes) separately trained RGB and flow I3Ds joined into one Two-Stream I3D, as Quo
Vadis does, and evaluates it one stream at a time on the same clips: RGB, flow, and the fused
logits. An RGB model of another family (a checkpoint or a spec such as torchvision:r3d_18) is
fused late with the flow I3D instead: each is probed alone and their fusion evaluated on the
same clips. The RGB stream is also probed with the frozen frame, to relate each class's gain from
flow to how much the RGB model needs motion. Writes the paper's table (accuracy per stream),
the per-class gap with paired CIs, figures and ``report.md``.

    python studies/rgb_vs_flow_gap.py                       # synthetic controls, ~5 min on 2 cores
    python studies/rgb_vs_flow_gap.py --smoke               # seconds, for tests
    python studies/rgb_vs_flow_gap.py --data K400 --rgb rgb.pt --flow flow.pt --device cuda \\
        --out runs/k400_gap
    python studies/rgb_vs_flow_gap.py --data K400 --rgb torchvision:r3d_18@KINETICS400_V1 \\
        --flow flow.pt --out runs/r3d_gap              # your RGB model, fused late with our flow
    motionprobe report outputs/rgb_vs_flow_gap              # re-render from the saved tables
"""

from __future__ import annotations

from pathlib import Path

from motionprobe.studies import run_study


def main(argv: list[str] | None = None) -> Path:
    """Run the study (its code is :mod:`motionprobe.studies.rgb_vs_flow_gap`)."""
    return run_study("rgb_vs_flow_gap", argv, prog=Path(__file__).name, epilog=__doc__)


if __name__ == "__main__":
    main()
