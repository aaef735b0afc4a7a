"""Benchmark the probe engine, printing one line per figure.

1. Overhead: wall time of a whole ``run_probe`` (decoding, interventions, flow for the cue
   conflict, frame selection, bookkeeping, writing the tables and statistics) against the pure
   forward time of the same batches, timed inside the model's ``forward`` in the same process;
   target <= 1.05. Also split: the batch loop against the forward time, and the seconds of the
   tables and statistics after it (per-class CIs, the verdicts and their stability bootstrap), a
   cost per run rather than per clip.
2. Decodes per clip: calls of ``video.read_clip`` over the number of clips; target 1 (every
   variant of a clip is made from one decode).
3. Throughput: model clips (clean and intervened, every seed) per second of the whole run, on a
   line starting with ``probe``.

Both for the naive suite (freeze, shuffle, reverse) and the full default suite (frame selection,
motion injection, cue conflict as well), 3 seeds (``--suites naive``, ``--seeds 0`` for less).
Data: synthetic controls written to a temporary folder (13 classes x ``--per-class`` test clips
of 32 frames at ``--video-size`` px, 64 by default). Model: RGB I3D at full width on 16 x 64 x 64
clips by default (untrained: speed does not depend on the weights).
Run: ``python benchmarks/probes.py`` (about 3 minutes on 2 CPU cores; ``--model i3d_rgb_tiny
--size 32 --video-size 32 --per-class 1 --suites naive --seeds 0`` takes seconds).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

try:
    from motionprobe import video
    from motionprobe.data.synthetic import class_specs, synthesize
    from motionprobe.device import for_inference
    from motionprobe.models import create_model
    from motionprobe.probes import engine
except ModuleNotFoundError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from motionprobe import video
    from motionprobe.data.synthetic import class_specs, synthesize
    from motionprobe.device import for_inference
    from motionprobe.models import create_model
    from motionprobe.probes import engine


class Timed(torch.nn.Module):
    """Wraps a model and adds up the time spent in its forward passes."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.presets, self.inputs = model.presets, model.inputs
        self.seconds, self.clips = 0.0, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = self.model(x)
        self.seconds += time.perf_counter() - start
        self.clips += len(x)
        return out


class Counted:
    """Within it, counts ``video.read_clip`` calls and times the engine's ``_finish`` (the
    tables and statistics after the batch loop)."""

    def __enter__(self) -> Counted:
        self.decodes, self.finish = 0, 0.0
        self.saved = video.read_clip, engine._finish
        read, finish = self.saved

        def counting(*a, **k):
            self.decodes += 1
            return read(*a, **k)

        def timed(*a, **k):
            start = time.perf_counter()
            try:
                return finish(*a, **k)
            finally:
                self.finish += time.perf_counter() - start

        video.read_clip, engine._finish = counting, timed
        return self

    def __exit__(self, *exc) -> None:
        video.read_clip, engine._finish = self.saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="i3d_rgb")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--per-class", type=int, default=2)
    parser.add_argument("--video-size", type=int, default=64, help="side of the written videos")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated intervention seeds")
    parser.add_argument("--suites", default="naive,full", help="naive, full or both")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    suites = {"naive": ["freeze", "shuffle", "reverse"], "full": None}
    chosen = [(name, suites[name]) for name in args.suites.split(",")]

    classes = [s.name for s in class_specs()]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "synth"
        synthesize(data, 1, 1, args.per_class, size=args.video_size, progress=False)
        torch.manual_seed(0)
        net = create_model(args.model, num_classes=len(classes), width=args.width,
                           size=args.size, frames=args.frames, short_side=args.size)  # fmt: skip
        for name, suite in chosen:
            # The engine runs an inference copy (BatchNorms folded); timing that very copy
            # keeps the engine from copying the timer away.
            model = Timed(for_inference(net.eval()))
            with Counted() as calls:
                start = time.perf_counter()
                summary = engine.run_probe(
                    model, data, Path(tmp) / name, classes=sorted(classes), frames=args.frames,
                    interventions=suite, seeds=seeds, device=args.device, progress=False,
                )  # fmt: skip
                wall = time.perf_counter() - start
                clips = summary.clips
                print(
                    f"{name} suite ({len(summary.accuracy)} conditions, {model.clips} model "
                    f"clips): wall {wall:.1f} s, pure forward {model.seconds:.1f} s, "
                    f"overhead ratio {wall / model.seconds:.2f} (target <= 1.05)"
                )
                loop = wall - calls.finish
                print(
                    f"{name} suite: set-up and the batch loop (decode, interventions, bookkeeping) "
                    f"{loop:.1f} s, ratio {loop / model.seconds:.2f}; the tables and statistics "
                    f"after it {calls.finish:.1f} s (verdict stability bootstrap included)"
                )
                print(
                    f"{name} suite: {calls.decodes} decodes for {clips} clips = "
                    f"{calls.decodes / clips:.2f} per clip (target 1)"
                )
                print(
                    f"probe {name} suite, {args.model} {args.frames}x{args.size}x{args.size} on "
                    f"{args.device}: {model.clips / wall:.1f} clips/s ({model.clips} model clips "
                    f"in {wall:.1f} s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
