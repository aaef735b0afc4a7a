"""What makes a video a video? Per class: one frame, a bag of frames, or the ordered sequence.

After Huang et al. (CVPR 2018). Trains (or takes) a C3D, trains the class-agnostic temporal
generator against it, and probes the test split: full clips; k = 1, 2, 4, 8 input frames held
(the naive baseline; k = 1 is the frozen frame), generated, and each with motion-invariant frame
selection; shuffle, reverse, injected motion and the cue conflict for the per-class taxonomy.
Writes per-class drops, the share of classes that do not need motion with its CI, the most and
least motion-dependent classes, figures and ``report.md``. Every step resumes after a kill.

    python studies/what_makes_a_video.py                  # synthetic controls, ~7 min on 2 cores
    python studies/what_makes_a_video.py --smoke          # seconds, for tests
    python studies/what_makes_a_video.py --data K400 --checkpoint c3d.pt --generator gen.pt \\
        --out runs/k400_wmav --device cuda
    motionprobe report outputs/what_makes_a_video         # re-render from the saved tables
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from motionprobe.data.synthetic import default_dataset
from motionprobe.io import record_study
from motionprobe.probes import run_probe
from motionprobe.probes.engine import DEFAULT_SUITE
from motionprobe.probes.generator import train_generator
from motionprobe.recipes import study_model
from motionprobe.report import make_report


def frame_conditions(ks: list[int], generator: bool) -> list[str]:
    """The k-frame conditions: held and (with a generator) generated, each plain and selected."""
    specs = []
    for k in ks:
        if k > 1:  # k = 1 held is the suite's freeze / freeze:select=max
            specs += [f"subsample:k={k}", f"subsample:k={k}:select=max"]
        if generator:
            specs += [f"generate:k={k}", f"generate:k={k}:select=max"]
    return specs


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="dataset root (default: synthetic controls)")
    parser.add_argument("--checkpoint", default=None, help="classifier (default: train a C3D)")
    parser.add_argument("--generator", default=None, help="temporal generator (default: train)")
    parser.add_argument("--no-generator", action="store_true", help="skip the generator")
    parser.add_argument("--out", default="outputs/what_makes_a_video")
    parser.add_argument("--smoke", action="store_true", help="tiny data and models (seconds)")
    parser.add_argument("--frames", default="1,2,4,8", help="numbers of input frames k")
    parser.add_argument("--generator-epochs", type=int, default=3)
    parser.add_argument("--split", default="test")
    parser.add_argument("--interventions", default=None, help="comma-separated specs to add")
    parser.add_argument("--seeds", default="0", help="seeds of the random interventions")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.time()
    out = Path(args.out)
    suffix = "_smoke" if args.smoke else ""
    data = Path(args.data or default_dataset(out.parent / f"synthetic{suffix}", smoke=args.smoke))
    models = out.parent / "models"
    checkpoint = args.checkpoint or study_model("c3d", models, data, args.smoke, args.device)
    generator = args.generator
    if generator is None and not args.no_generator:
        # Smoke: one small epoch, enough to exercise the code path.
        tiny = dict(epochs=1, width=8, samples=1, batch_size=8) if args.smoke else {}
        generator = train_generator(
            checkpoint,
            data,
            models / f"generator_c3d{suffix}",
            **{"epochs": args.generator_epochs, **tiny},
            device=args.device,
        )["generator"]
    ks = [int(k) for k in ("1,4" if args.smoke else args.frames).split(",")]
    interventions = [*DEFAULT_SUITE, *frame_conditions(ks, generator is not None)]
    if args.interventions:
        interventions += args.interventions.split(",")
    summary = run_probe(
        checkpoint,
        data,
        out,
        split=args.split,
        interventions=interventions,
        generator=generator,
        seeds=[int(s) for s in args.seeds.split(",")],
        device=args.device,
        workers=args.workers,
    )
    record_study(
        out, "what_makes_a_video", vars(args), checkpoint=str(checkpoint), generator=generator
    )
    report = make_report(out, data=data)
    minutes = round((time.time() - start) / 60, 2)
    print(json.dumps(summary["accuracy"]))
    print(f"what_makes_a_video: done in {minutes} min -> {report.resolve()}")
    return report


if __name__ == "__main__":
    main()
