"""A single frame, a bag of frames, or an ordered sequence? Per-class verdicts across architectures.

Probes several architectures with the same suite (naive and artifact-controlled single frames,
shuffle, reverse, cue conflict) on the same clips and sets their per-class verdicts side by side:
which classes every model recognises from one frame, which need motion, which need order, and
where architectures disagree. On Kinetics-400 the classes are stratified by Kowal et al.'s
temporal / static subsets; on the synthetic controls by the ground-truth cue.

    python studies/temporal_taxonomy.py                     # synthetic controls, 3 architectures
    python studies/temporal_taxonomy.py --smoke             # seconds, for tests
    python studies/temporal_taxonomy.py --data K400 --label-map kinetics400.txt \\
        --checkpoint i3d=i3d_rgb.pt --checkpoint c3d=c3d.pt --device cuda --out runs/k400_tax
    motionprobe report outputs/temporal_taxonomy            # re-render from the saved tables
"""

from __future__ import annotations

from pathlib import Path

from motionprobe.studies import run_study


def main(argv: list[str] | None = None) -> Path:
    """Run the study (its code is :mod:`motionprobe.studies.temporal_taxonomy`)."""
    return run_study("temporal_taxonomy", argv, prog=Path(__file__).name, epilog=__doc__)


if __name__ == "__main__":
    main()
