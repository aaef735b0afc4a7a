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

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from motionprobe.data.synthetic import default_dataset
from motionprobe.io import record_study, write_csv
from motionprobe.probes.bias import run_bias
from motionprobe.recipes import named_checkpoints, study_model
from motionprobe.report import make_report

#: The studies' shared models analysed by default.
MODELS = ("c3d", "i3d_rgb", "i3d_two_stream")


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="dataset root (default: synthetic controls)")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=None,
        help="[name=]checkpoint, repeatable or comma-separated (default: the study models "
        + ", ".join(MODELS)
        + ")",
    )
    parser.add_argument("--out", default="outputs/static_dynamic_bias")
    parser.add_argument("--smoke", action="store_true", help="tiny data and models (seconds)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--clips-per-class", type=int, default=20)
    parser.add_argument("--layers", default=None, help="comma-separated module names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    start = time.time()
    progress = not args.no_progress
    out = Path(args.out)
    suffix = "_smoke" if args.smoke else ""
    data = Path(
        args.data
        or default_dataset(out.parent / f"synthetic{suffix}", smoke=args.smoke, progress=progress)
    )
    checkpoints = list(named_checkpoints(args.checkpoint).items())
    if not checkpoints:
        models = out.parent / "models"
        checkpoints = [
            (name, study_model(name, models, data, args.smoke, args.device, progress))
            for name in MODELS
        ]
    clips = min(args.clips_per_class, 4) if args.smoke else args.clips_per_class
    layers = args.layers.split(",") if args.layers else None

    tables, units, used, settings = [], [], {}, {}
    for name, checkpoint in checkpoints:
        folder = out / name
        run_bias(
            checkpoint,
            data,
            folder,
            split=args.split,
            clips_per_class=clips,
            layers=layers,
            seed=args.seed,
            device=args.device,
            progress=progress,
            name=name,
        )
        used[name] = str(Path(checkpoint).resolve())
        tables.append(pd.read_csv(folder / "layers.csv"))
        units.append(pd.read_csv(folder / "units.csv"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        settings = {k: config[k] for k in ("threshold", "static_pairs", "dynamic_pairs")}
    write_csv(out / "layers.csv", pd.concat(tables, ignore_index=True))
    write_csv(out / "units.csv", pd.concat(units, ignore_index=True))
    record_study(
        out,
        "static_dynamic_bias",
        vars(args),
        checkpoints=used,
        data=str(data.resolve()),
        split=args.split,
        clips_per_class=clips,
        seed=args.seed,
        **settings,
    )
    report = make_report(out, data=data)
    minutes = round((time.time() - start) / 60, 2)
    print(f"static_dynamic_bias: done in {minutes} min -> {report.resolve()}")
    return report


if __name__ == "__main__":
    main()
