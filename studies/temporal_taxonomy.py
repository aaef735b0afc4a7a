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

import argparse
import time
from pathlib import Path

from motionprobe.data.synthetic import default_dataset
from motionprobe.io import record_study
from motionprobe.probes import run_probe
from motionprobe.recipes import named_checkpoints, study_model
from motionprobe.report import make_report

#: The architectures of the default: a 3-D CNN, an inflated Inception, and the two-stream I3D
#: (RGB + flow), the models the other studies train, so this one only probes. The ConvNet+LSTM
#: (``study_model("convnet_lstm", ...)``) is left out of the default for time: it learns the
#: controls slowly on a CPU (about 20 % after 5 of its 15 epochs); pass it with --checkpoint.
DEFAULT_MODELS = ("c3d", "i3d_rgb", "i3d_two_stream")
SMOKE_MODELS = ("c3d", "i3d_rgb")


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="dataset root (default: synthetic controls)")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=None,
        metavar="[NAME=]PATH",
        help="a model to compare (repeat or comma-separate; default: the three default ones)",
    )
    parser.add_argument("--label-map", default=None, help="class-order file of the dataset")
    parser.add_argument("--subsets", default=None, help="temporal/static class subsets JSON")
    parser.add_argument("--out", default="outputs/temporal_taxonomy")
    parser.add_argument("--smoke", action="store_true", help="tiny data and models (seconds)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--seeds", default="0", help="seeds of the random interventions")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.time()
    out = Path(args.out)
    suffix = "_smoke" if args.smoke else ""
    data = Path(args.data or default_dataset(out.parent / f"synthetic{suffix}", smoke=args.smoke))
    checkpoints = named_checkpoints(args.checkpoint)
    if not checkpoints:
        names = SMOKE_MODELS if args.smoke else DEFAULT_MODELS
        models = out.parent / "models"
        checkpoints = {n: study_model(n, models, data, args.smoke, args.device) for n in names}
    for name, checkpoint in checkpoints.items():
        run_probe(
            checkpoint,
            data,
            out / name,
            split=args.split,
            seeds=[int(s) for s in args.seeds.split(",")],
            device=args.device,
            workers=args.workers,
            label_map=args.label_map,
        )
    record_study(
        out,
        "temporal_taxonomy",
        vars(args),
        checkpoints={k: str(v) for k, v in checkpoints.items()},
        data=str(data),
        subsets=args.subsets,
    )
    report = make_report(out)
    minutes = round((time.time() - start) / 60, 2)
    print(f"temporal_taxonomy: {len(checkpoints)} models in {minutes} min -> {report.resolve()}")
    return report


if __name__ == "__main__":
    main()
