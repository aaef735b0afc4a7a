"""How far can the verdicts be trusted? Each architecture against control families that know.

Trains every architecture on each synthetic control family (three, designed independently of
each other and of the verdict rule), probes it with the default suite, and compares the verdict
and its axes (one frame suffices, order matters, cue preference) with the ground truth, across
two training seeds and a bootstrap over clips. Read this before the Kinetics results of an
architecture: it says how often its verdicts are right where the answer is known.

    python studies/probe_validity.py                          # c3d_tiny and i3d_rgb_tiny
    python studies/probe_validity.py --models convnet_lstm_tiny --seeds 0
    python studies/probe_validity.py --smoke                  # seconds, for tests
    motionprobe report outputs/probe_validity/c3d_tiny        # re-render from the saved tables
"""

from __future__ import annotations

from pathlib import Path

from motionprobe.studies import run_study


def main(argv: list[str] | None = None) -> Path:
    """Run the study (its code is :mod:`motionprobe.studies.probe_validity`)."""
    return run_study("probe_validity", argv, prog=Path(__file__).name, epilog=__doc__)


if __name__ == "__main__":
    main()
