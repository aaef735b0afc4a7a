"""What makes a video a video? Per class: one frame, a bag of frames, or the ordered sequence.

After Huang et al. (CVPR 2018). Trains (or takes) a C3D, trains the class-agnostic temporal
generator against it, and probes the test split: full clips; k = 1, 2, 4, 8 input frames held
(the naive baseline; k = 1 is the frozen frame), generated, and each with motion-invariant frame
selection; shuffle, reverse, injected motion and the cue conflict for the per-class taxonomy.
Writes per-class drops, the share of classes that do not need motion with its CI, the most and
least motion-dependent classes, figures and ``report.md`` (the generic probe report,
:func:`motionprobe.report.probe_report`). Every step resumes after a kill.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from motionprobe.io import record_study
from motionprobe.probes import run_probe
from motionprobe.probes.engine import DEFAULT_SUITE
from motionprobe.probes.generator import GeneratorConfig, train_generator
from motionprobe.report import probe_report
from motionprobe.studies.base import Study, register_study
from motionprobe.studies.context import StudyContext


def frame_conditions(ks: list[int], generator: bool) -> list[str]:
    """The k-frame conditions: held and (with a generator) generated, each plain and selected."""
    specs = []
    for k in ks:
        if k > 1:  # k = 1 held is the suite's freeze / freeze:select=max
            specs += [f"subsample:k={k}", f"subsample:k={k}:select=max"]
        if generator:
            specs += [f"generate:k={k}", f"generate:k={k}:select=max"]
    return specs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's own options."""
    parser.add_argument("--checkpoint", default=None, help="classifier (default: train a C3D)")
    parser.add_argument("--generator", default=None, help="temporal generator (default: train)")
    parser.add_argument("--no-generator", action="store_true", help="skip the generator")
    parser.add_argument("--frames", default="1,2,4,8", help="numbers of input frames k")
    parser.add_argument("--generator-epochs", type=int, default=3,
                        help="epochs of the generator the study trains (smoke: 1)")  # fmt: skip
    parser.add_argument("--split", default="test", help="split to probe")
    parser.add_argument("--interventions", default=None, help="comma-separated specs to add")
    parser.add_argument("--seeds", default="0", help="seeds of the random interventions")


def run(ctx: StudyContext, args: argparse.Namespace) -> Path:
    """Train what is missing, probe the suite and the k-frame conditions, write the report."""
    checkpoint = args.checkpoint or ctx.model("c3d")
    generator = args.generator
    if generator is None and not args.no_generator:
        # Smoke: one small epoch, enough to exercise the code path.
        tiny = dict(epochs=1, samples=1, batch_size=8) if ctx.smoke else {}
        # The width names the folder: a generator of another width (an older default) there
        # could not be resumed, and is kept rather than overwritten.
        width = GeneratorConfig.width
        generator = train_generator(
            checkpoint,
            ctx.data,
            ctx.models / f"generator_c3d_w{width}{ctx.suffix}",
            **{"epochs": args.generator_epochs, "width": width, **tiny},
            device=ctx.device,
            truncated=ctx.truncated,
        ).generator
    ks = [int(k) for k in ("1,4" if ctx.smoke else args.frames).split(",")]
    interventions = [*DEFAULT_SUITE, *frame_conditions(ks, generator is not None)]
    if args.interventions:
        interventions += args.interventions.split(",")
    summary = run_probe(
        checkpoint,
        ctx.data,
        ctx.out,
        split=args.split,
        interventions=interventions,
        generator=generator,
        seeds=[int(s) for s in args.seeds.split(",")],
        device=ctx.device,
        workers=ctx.workers,
        overwrite=ctx.overwrite,
        truncated=ctx.truncated,
    )
    record_study(
        ctx.out, "what_makes_a_video", vars(args), checkpoint=str(checkpoint), generator=generator
    )
    print(json.dumps(summary.accuracy))
    return probe_report(ctx.out, data=ctx.data)


STUDY = register_study(
    Study(
        "what_makes_a_video",
        __doc__.splitlines()[0],
        run,
        report=probe_report,
        add_arguments=add_arguments,
    )
)
