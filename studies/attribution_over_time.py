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

import argparse
import time
from pathlib import Path

from motionprobe.attribution import METHODS, run_attribution
from motionprobe.data.synthetic import default_dataset
from motionprobe.io import record_study
from motionprobe.recipes import named_checkpoints, study_model
from motionprobe.report import make_report

#: The default models: a single-stream 3-D CNN and the two-stream I3D.
MODELS = ("c3d", "i3d_two_stream")


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="dataset root (default: synthetic controls)")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        help="model to attribute, name=path or path; repeat or comma-separate "
        f"(default: train {', '.join(MODELS)})",
    )
    parser.add_argument("--out", default="outputs/attribution_over_time")
    parser.add_argument("--method", choices=METHODS, default="integrated_gradients")
    parser.add_argument("--clips-per-class", type=int, default=None, help="default 4 (smoke: 1)")
    parser.add_argument("--steps", type=int, default=None, help="IG steps, default 16 (smoke: 4)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny data and 1-epoch models")
    args = parser.parse_args(argv)
    if args.clips_per_class is None:
        args.clips_per_class = 1 if args.smoke else 4
    if args.steps is None:
        args.steps = 4 if args.smoke else 16

    start = time.time()
    out = Path(args.out)
    if args.data:
        data = Path(args.data)
    else:
        root = out.parent / ("synthetic_smoke" if args.smoke else "synthetic")
        data = default_dataset(root, smoke=args.smoke)
    if args.checkpoint:
        checkpoints = named_checkpoints(args.checkpoint)
    else:
        checkpoints = {
            name: study_model(name, out.parent / "models", data, args.smoke, args.device)
            for name in MODELS
        }
    # Smoke runs only exercise the code: one sanity clip, few montages, no animations.
    extra = dict(sanity_clips=1, examples=3, video_format=None) if args.smoke else {}
    for name, checkpoint in checkpoints.items():
        run_attribution(
            checkpoint,
            data,
            out / name,
            split=args.split,
            method=args.method,
            clips_per_class=args.clips_per_class,
            device=args.device,
            steps=args.steps,
            **extra,
        )
    params = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    params["data"] = str(data)
    record_study(
        out,
        "attribution_over_time",
        params,
        checkpoints={name: str(path) for name, path in checkpoints.items()},
    )
    report = make_report(out, data=data)
    minutes = (time.time() - start) / 60
    print(f"attribution_over_time: done in {minutes:.2f} min -> {report.resolve()}")
    return report


if __name__ == "__main__":
    main()
