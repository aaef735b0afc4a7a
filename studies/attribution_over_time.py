"""Where in time does the evidence lie? Per class, attribution over frames, and its motion share.

Attributes the decisions of a C3D and of the Two-Stream I3D (separately trained RGB and flow I3Ds
joined by summing their logits, as Quo Vadis does) on test clips of the embedded default, the
synthetic controls whose cue is known, and reports per class where in time the attribution mass
lies and how much of it is motion: the temporal share (selective relevance) for every model, the
flow share for the two-stream one. Models are trained once into ``{out.parent}/models`` and shared
with the other studies; each model's attributions go to ``{out}/{model}/``, the comparison and
``report.md`` to ``{out}``.

    python studies/attribution_over_time.py            # synthetic default, ~1 min once trained
    python studies/attribution_over_time.py --smoke    # tiny data and 1-epoch models, seconds
    python studies/attribution_over_time.py --data K400 --checkpoint i3d=i3d.pt,c3d=c3d.pt

Cost: Integrated Gradients runs ``steps`` forward/backward passes per clip (plus as many for the
randomisation test on 2 clips). The default, 4 clips per class of the 13 classes (52 per model) at
16 steps (completeness error ~3 %), took 1.8 minutes for both models on 2 busy CPU cores with one
torch thread; stay within ~3 minutes on a CPU, and raise ``--clips-per-class`` on a GPU.
"""

from __future__ import annotations

from pathlib import Path

from motionprobe.studies import run_study


def main(argv: list[str] | None = None) -> Path:
    """Run the study (its code is :mod:`motionprobe.studies.attribution_over_time`)."""
    return run_study("attribution_over_time", argv, prog=Path(__file__).name, epilog=__doc__)


if __name__ == "__main__":
    main()
