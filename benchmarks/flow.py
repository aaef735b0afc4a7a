"""Benchmark flow extraction, printing one line per figure.

``tvl1-torch`` (:mod:`motionprobe.tvl1`) against OpenCV's TV-L1, the estimator it reimplements:

A. On every video of ``../shared/data/real`` (frames resized to 256 short side, ``--pairs`` frame
   pairs spread over each video): mean end-point error per video against the target, the larger
   of 0.25 px and 5 % of OpenCV's mean flow magnitude; the share of pixels whose 8-bit cache
   values agree within one level (target >= 95 %); CPU time per pair of both, single-threaded
   (``tvl1-torch`` solves a video's pairs as one batch).
B. Known translations of a smooth texture, integer and sub-pixel: error of the mean flow (target
   <= 0.1 px).
C. ``tvl1-torch`` pairs/s on ``--device`` (256x340, a batch of ``--batch`` pairs).
   ``--torch`` prints only this (``--tiny``: 64x64, for a CPU check of the script).

OpenCV's TV-L1 as the project runs it:

1. Overhead of ``compute_flow`` (TV-L1) against bare OpenCV on the same frames (greyscale
   conversion plus one ``DualTVL1OpticalFlow.calc`` per pair, one OpenCV object for all pairs),
   per pair; target <= 1.1.
2. Throughput of ``extract_flow`` (TV-L1) with 2 worker processes against 1 on the same videos;
   target >= 1.7 on 2 cores.
3. Farneback against TV-L1: time per pair on the same frames.
4. Cache size: bytes of TV-L1 cache entries per minute of 256-px video.

Frames: the first frames of ``../shared/data/real/kinetics_arm_wrestling.mp4`` (340x256) when
present, else a moving synthetic texture of that size. All timings single-threaded per process.
Run: ``python benchmarks/flow.py`` (about 7 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

try:
    from motionprobe import flow as fl
    from motionprobe import tvl1
    from motionprobe.video import read_clip, write_video
except ModuleNotFoundError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from motionprobe import flow as fl
    from motionprobe import tvl1
    from motionprobe.video import read_clip, write_video

REAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
REAL = REAL_DIR / "kinetics_arm_wrestling.mp4"


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


def real_pairs(path: Path, pairs: int, short_side: int = 256) -> np.ndarray:
    """``pairs`` consecutive-frame pairs spread over a video: uint8 ``(pairs, 2, H, W, 3)``."""
    frames, _ = fl.read_video(path, short_side=short_side)
    starts = np.linspace(0, len(frames) - 2, pairs).round().astype(int)
    return np.stack([frames[t : t + 2] for t in starts])


def against_opencv(pairs: int) -> None:
    """Section A: every real video, accuracy and CPU time per pair."""
    torch.set_num_threads(1)
    videos = sorted(p for p in REAL_DIR.glob("*") if p.is_file()) if REAL_DIR.is_dir() else []
    if not videos:
        print(f"tvl1-torch vs OpenCV: skipped, no videos in {REAL_DIR}")
        return
    cv_time = torch_time = 0.0
    count, passed, agree, pixels = 0, 0, 0, 0
    for path in videos:
        clips = real_pairs(path, pairs)
        start = time.perf_counter()
        ref = np.stack([fl.compute_flow(c, "tvl1")[:, 0] for c in clips], 1)
        cv_time += time.perf_counter() - start
        # One batch: the first frames against the second frames of every pair.
        grey = tvl1.grey(torch.from_numpy(clips))  # (P, 2, H, W)
        start = time.perf_counter()
        with torch.no_grad():
            ours = tvl1.tvl1(grey[:, 0], grey[:, 1], fl.TVL1_PARAMS).transpose(0, 1).numpy()
        torch_time += time.perf_counter() - start
        epe = float(np.hypot(*(ours - ref)).mean())
        magnitude = float(np.hypot(*ref).mean())
        target = max(0.25, 0.05 * magnitude)
        near = np.abs(fl.quantize(ours).astype(int) - fl.quantize(ref).astype(int)) <= 1
        share = float(near.all(axis=0).mean())
        agree, pixels = agree + int(near.all(axis=0).sum()), pixels + near[0].size
        passed += epe <= target and share >= 0.95
        count += len(clips)
        print(
            f"tvl1-torch vs OpenCV, {path.name} ({clips.shape[3]}x{clips.shape[2]}, "
            f"{len(clips)} pairs): EPE {epe:.3f} px (target {target:.2f}; OpenCV mean "
            f"{magnitude:.2f} px/frame), cache within one level {share:.1%} (target 95%)"
        )
    print(
        f"tvl1-torch vs OpenCV: {passed}/{len(videos)} videos within target; cache within one "
        f"level on {agree / pixels:.1%} of pixels; CPU per pair (1 thread): OpenCV "
        f"{cv_time / count:.2f} s, tvl1-torch {torch_time / count:.2f} s, ratio "
        f"{torch_time / cv_time:.2f}"
    )


def shifted(dx: float, dy: float, n: int = 96) -> np.ndarray:
    """A smooth periodic texture and its translation by ``(dx, dy)``: uint8 ``(2, n, n, 3)``."""
    rng = np.random.default_rng(1)
    fy, fx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")
    spectrum = np.fft.fft2(rng.standard_normal((n, n))) * np.exp(-(fx**2 + fy**2) * (n / 6) ** 2)
    moved = spectrum * np.exp(-2j * np.pi * (fx * dx + fy * dy))  # exact sub-pixel shift
    pair = np.real(np.fft.ifft2(np.stack([spectrum, moved])))
    pair = np.rint((pair - pair.min()) / (pair.max() - pair.min()) * 255).astype(np.uint8)
    return np.repeat(pair[..., None], 3, axis=-1)


def known_shifts() -> None:
    """Section B: the error of the mean flow away from the borders, both TV-L1s."""
    shifts = [(2, 0), (0, -1), (-3, 2), (1.5, 0.5), (0.25, -0.75)]
    for method in ("tvl1", "tvl1-torch"):
        errors = []
        for dx, dy in shifts:
            inner = fl.compute_flow(shifted(dx, dy), method)[:, 0, 8:-8, 8:-8]
            errors.append(max(abs(inner[0].mean() - dx), abs(inner[1].mean() - dy)))
        print(
            f"known shifts {shifts}, {method}: largest error of the mean flow "
            f"{max(errors):.3f} px (target 0.1)"
        )


def torch_throughput(device: str, batch: int, tiny: bool) -> None:
    """Section C: pairs/s of ``tvl1-torch`` on ``device``, one batch after a warm-up."""
    if device == "cpu":
        torch.set_num_threads(1)  # per core, comparable with OpenCV's figure in A
    h, w = (64, 64) if tiny else (256, 340)
    clip = frames_256(batch + 1)[:, :h, :w] if not tiny else shifted(1.5, 0.5, 64)
    grey = tvl1.grey(torch.from_numpy(np.ascontiguousarray(clip)).to(device))
    first = grey[:-1].repeat(max(1, batch // max(1, len(grey) - 1)), 1, 1)[:batch]
    second = grey[1:].repeat(max(1, batch // max(1, len(grey) - 1)), 1, 1)[:batch]
    with torch.no_grad():
        tvl1.tvl1(first[:1], second[:1], fl.TVL1_PARAMS)  # warm-up (kernels, allocator)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        tvl1.tvl1(first, second, fl.TVL1_PARAMS)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(
        f"tvl1-torch pairs/s on {device}: {len(first) / seconds:.2f} ({h}x{w}, batch "
        f"{len(first)}, {torch.get_num_threads()} CPU threads)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--torch", action="store_true", help="only tvl1-torch's throughput (C)")
    parser.add_argument("--device", default="cpu", help="where tvl1-torch runs in C")
    parser.add_argument("--tiny", action="store_true", help="C on 64x64 pairs (checks the script)")
    parser.add_argument("--batch", type=int, default=None, help="pairs per batch in C")
    parser.add_argument("--pairs", type=int, default=4, help="pairs per real video in A")
    args = parser.parse_args()
    batch = args.batch or (4 if args.tiny else 64 if args.device.startswith("cuda") else 8)
    if args.torch:
        torch_throughput(args.device, batch, args.tiny)
        return
    against_opencv(args.pairs)
    known_shifts()
    torch_throughput(args.device, batch, args.tiny)
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
