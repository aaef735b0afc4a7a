"""The RGB-versus-flow gap (Carreira & Zisserman, CVPR 2017), overall and per class.

Trains (or takes) separately trained RGB and flow I3Ds joined into one Two-Stream I3D, as Quo
Vadis does, and evaluates it one stream at a time on the same clips: RGB, flow, and the fused
logits. The RGB stream is also probed with the frozen frame, to relate each class's gain from
flow to how much the RGB model needs motion. Writes the paper's table (accuracy per stream),
the per-class gap with paired CIs, figures and ``report.md``.

    python studies/rgb_vs_flow_gap.py                       # synthetic controls, ~5 min on 2 cores
    python studies/rgb_vs_flow_gap.py --smoke               # seconds, for tests
    python studies/rgb_vs_flow_gap.py --data K400 --rgb rgb.pt --flow flow.pt --device cuda \\
        --out runs/k400_gap
    motionprobe report outputs/rgb_vs_flow_gap              # re-render from the saved tables
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from motionprobe.data.synthetic import default_dataset
from motionprobe.io import record_study
from motionprobe.probes import run_probe
from motionprobe.recipes import study_model
from motionprobe.report import make_report
from motionprobe.train import two_stream_checkpoint


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="dataset root (default: synthetic controls)")
    parser.add_argument("--checkpoint", default=None, help="a Two-Stream I3D checkpoint")
    parser.add_argument("--rgb", default=None, help="RGB I3D (with --flow; joined by the study)")
    parser.add_argument("--flow", default=None, help="flow I3D (with --rgb)")
    parser.add_argument("--out", default="outputs/rgb_vs_flow_gap")
    parser.add_argument("--smoke", action="store_true", help="tiny data and models (seconds)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--num-clips", type=int, default=1, help="clips per video")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args(argv)
    if (args.rgb is None) != (args.flow is None):
        parser.error("give both --rgb and --flow, or neither")

    start = time.time()
    out = Path(args.out)
    suffix = "_smoke" if args.smoke else ""
    data = Path(args.data or default_dataset(out.parent / f"synthetic{suffix}", smoke=args.smoke))
    checkpoint = args.checkpoint
    if checkpoint is None and args.rgb:
        checkpoint = two_stream_checkpoint(args.rgb, args.flow, out / "two_stream.pt")
    if checkpoint is None:
        checkpoint = study_model("i3d_two_stream", out.parent / "models", data, args.smoke)
    common = dict(split=args.split, num_clips=args.num_clips, device=args.device)
    common |= dict(workers=args.workers, seeds=[0])
    # The RGB stream also gets the frozen frame; the flow of a frozen clip is zero everywhere,
    # so freezing says nothing about the flow stream beyond "it sees no motion".
    run_probe(checkpoint, data, out / "rgb", interventions=["freeze"], stream="rgb", **common)
    run_probe(checkpoint, data, out / "flow", interventions=[], stream="flow", **common)
    run_probe(checkpoint, data, out / "fused", interventions=[], stream="both", **common)
    record_study(out, "rgb_vs_flow_gap", vars(args), checkpoint=str(checkpoint), data=str(data))
    report = make_report(out)
    minutes = round((time.time() - start) / 60, 2)
    print(f"rgb_vs_flow_gap: done in {minutes} min -> {report.resolve()}")
    return report


if __name__ == "__main__":
    main()
