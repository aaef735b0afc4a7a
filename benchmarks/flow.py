"""Benchmark flow extraction, printing one line per figure.

1. Overhead of ``compute_flow`` (TV-L1) against bare OpenCV on the same frames (greyscale
   conversion plus one ``DualTVL1OpticalFlow.calc`` per pair, one OpenCV object for all pairs),
   per pair; target <= 1.1.
2. Throughput of ``extract_flow`` (TV-L1) with 2 worker processes against 1 on the same videos;
   target >= 1.7 on 2 cores.
3. Farneback against TV-L1: time per pair on the same frames.
4. Cache size: bytes of TV-L1 cache entries per minute of 256-px video.

Frames: the first frames of ``../shared/data/real/kinetics_arm_wrestling.mp4`` (340x256) when
present, else a moving synthetic texture of that size. All timings single-threaded per process.
Run: ``python benchmarks/flow.py`` (about 4 minutes on 2 CPU cores).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

try:
    from motionprobe import flow as fl
    from motionprobe.video import read_clip, write_video
except ModuleNotFoundError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from motionprobe import flow as fl
    from motionprobe.video import read_clip, write_video

REAL = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "kinetics_arm_wrestling.mp4"
)


def frames_256(count: int) -> np.ndarray:
    """``count`` RGB frames of 256x340."""
    if REAL.is_file():
        return read_clip(REAL, count)
    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur(rng.integers(0, 256, (256, 400, 3), dtype=np.uint8), (0, 0), 3)
    return np.stack([tex[:, 2 * t : 2 * t + 340] for t in range(count)])


def bare_tvl1(frames: np.ndarray) -> np.ndarray:
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    return np.stack([tvl1.calc(a, b, None) for a, b in zip(grey, grey[1:], strict=False)])


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    cv2.setNumThreads(1)
    frames = frames_256(7)
    pairs = len(frames) - 1
    timed(fl.compute_flow, frames[:2])  # warm-up
    ours, bare = [], []
    for _ in range(2):  # interleaved, so drift hits both alike
        ours.append(timed(fl.compute_flow, frames))
        bare.append(timed(bare_tvl1, frames))
    o, b = min(ours) / pairs, min(bare) / pairs
    print(
        f"tvl1 per pair (256x340): motionprobe {o:.3f} s, bare OpenCV {b:.3f} s, ratio {o / b:.3f}"
    )

    farneback = min(timed(fl.compute_flow, frames, "farneback") for _ in range(3)) / pairs
    print(f"farneback per pair {farneback * 1e3:.1f} ms: {o / farneback:.0f}x faster than tvl1")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "videos"
        clip = frames_256(25)
        for i in range(4):  # 4 videos of 24 pairs at 128 px short side: 96 TV-L1 pairs
            write_video(root / f"v{i}.mp4", np.roll(clip, 7 * i, axis=2), fps=25, crf=18)
        seconds = {}
        for workers in (1, 2):
            out = Path(tmp) / f"flow{workers}"
            result = fl.extract_flow(root, out, workers=workers, short_side=128, progress=False)
            seconds[workers] = result["seconds"]
        print(
            f"extract_flow tvl1, 4 videos x 24 pairs at 128 px: 1 worker {seconds[1]:.1f} s, "
            f"2 workers {seconds[2]:.1f} s, speed-up {seconds[1] / seconds[2]:.2f}"
        )

        one = Path(tmp) / "one" / "v.mp4"
        write_video(one, frames_256(26), fps=25, crf=18)  # ~1 s of 256-px video
        out = Path(tmp) / "size"
        result = fl.extract_flow(one.parent, out, workers=2, progress=False)
        size = sum(p.stat().st_size for p in out.rglob("*.npz"))
        minutes = (result["frames"] - 1) / 25 / 60
        raw = 2 * 256 * 340 * 25 * 60  # uint8 dx and dy, uncompressed, per minute
        print(
            f"cache size: {size / minutes / 2**20:.1f} MiB per minute of 256x340 video at 25 fps "
            f"(tvl1; {size / minutes / raw:.2f} of the uncompressed 8-bit fields)"
        )


if __name__ == "__main__":
    main()
