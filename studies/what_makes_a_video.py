"""What makes a video a video? Per class: one frame, a bag of frames, or the ordered sequence.

After Huang et al. (CVPR 2018). Trains (or takes) a C3D, trains the class-agnostic temporal
generator against it, and probes the test split: full clips; k = 1, 2, 4, 8 input frames held
(the naive baseline; k = 1 is the frozen frame), generated, and each with motion-invariant frame
selection; shuffle, reverse, injected motion and the cue conflict for the per-class taxonomy.
Writes per-class drops, the share of classes that do not need motion with its CI, the most and
least motion-dependent classes, figures and ``report.md``. Every step resumes after a kill.

    python studies/what_makes_a_video.py                  # synthetic controls, ~15 min on 2 cores
    python studies/what_makes_a_video.py --smoke          # seconds, for tests
    python studies/what_makes_a_video.py --data K400 --checkpoint c3d.pt --generator gen.pt \\
        --out runs/k400_wmav --device cuda
    motionprobe report outputs/what_makes_a_video         # re-render from the saved tables
"""

from __future__ import annotations

from pathlib import Path

from motionprobe.studies import run_study


def main(argv: list[str] | None = None) -> Path:
    """Run the study (its code is :mod:`motionprobe.studies.what_makes_a_video`)."""
    return run_study("what_makes_a_video", argv, prog=Path(__file__).name, epilog=__doc__)


if __name__ == "__main__":
    main()
