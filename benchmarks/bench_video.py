"""Benchmark motionprobe.video against bare PyAV, printing one line per figure.

1. Overhead of the wrapper: a 16-frame clip at the start with ``read_clip`` against a bare PyAV
   decode of the same frames (open, decode from the stream start, ``to_ndarray``).
2. What seeking saves: a 16-frame clip near the end against one at the start, with ``read_clip``
   (seeks: the ratio stays near 1) and with the bare decode from the start (grows with position).
3. ``probe`` (counts demuxed packets) against counting frames by a full decode, on the 1080p file.

Videos: a 60 s, 30 fps, 320x240 h264 video with a keyframe every 2 s, written to a temporary folder,
and the files of ``../shared/data/real`` when present. Each time is the median of several runs,
interleaved, after a warm-up. Run: ``python benchmarks/bench_video.py`` (about 30 s on 2 CPU cores).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

try:
    from motionprobe.video import probe, read_clip, write_video
except ModuleNotFoundError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from motionprobe.video import probe, read_clip, write_video

CLIP = 16
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def bare_decode(path: Path, first: int, count: int = CLIP) -> np.ndarray:
    """Frames ``first .. first + count - 1`` by decoding from the stream start (no seeking)."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # same decoder settings as read_clip
        for index, frame in enumerate(container.decode(stream)):
            if index >= first:
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == count:
                    break
    return np.stack(frames)


def medians(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each run; runs alternate so that load from other processes on a shared
    machine hits all of them alike. One warm-up round (file cache, codec initialisation)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(repeats + 1):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def panning_video(folder: Path, seconds: int = 60, fps: int = 30) -> Path:
    """A textured scene panning 2 px per frame (realistic P/B-frames), keyframe every 2 s."""
    rng = np.random.default_rng(0)
    width, height, frames = 320, 240, seconds * fps
    texture = rng.integers(0, 256, (height // 8, (width + 2 * frames) // 8 + 1, 3), np.uint8)
    scene = texture.repeat(8, axis=0).repeat(8, axis=1)
    # Frame t is the window of the scene starting at column 2t: a view, copied frame by frame.
    windows = np.lib.stride_tricks.sliding_window_view(scene, width, axis=1)[:, : 2 * frames : 2]
    return write_video(folder / "pan_60s.mp4", windows.transpose(1, 0, 3, 2), fps, gop=2 * fps)


def compare(name: str, path: Path, late: list[tuple[str, int]]) -> None:
    """Print the start-clip overhead and, for each late clip, the late/start ratios."""
    info = probe(path)

    def ours(first: int) -> Callable[[], np.ndarray]:
        return lambda: read_clip(path, CLIP, start=first / info.fps, info=info)

    def bare(first: int) -> Callable[[], np.ndarray]:
        return lambda: bare_decode(path, first)

    for first in [0, *(f for _, f in late)]:  # same frames, or the comparison means nothing
        assert np.array_equal(ours(first)(), bare(first)()), (name, first)
    cheap = medians({"ours 0": ours(0), "bare 0": bare(0)} | {f: ours(f) for _, f in late}, 15)
    costly = medians({f: bare(f) for _, f in late}, 3)
    ours_start, bare_start = cheap["ours 0"], cheap["bare 0"]
    print(
        f"{name}: start clip, read_clip / bare PyAV = {ours_start / bare_start:.2f} "
        f"({ours_start * 1e3:.1f} ms vs {bare_start * 1e3:.1f} ms)"
    )
    for label, first in late:
        ours_late, bare_late = cheap[first], costly[first]
        print(
            f"{name}: {label} clip (frame {first}) / start clip: read_clip "
            f"{ours_late / ours_start:.2f} ({ours_late * 1e3:.1f} ms vs {ours_start * 1e3:.1f} ms)"
            f", bare decode from start {bare_late / bare_start:.1f} "
            f"({bare_late * 1e3:.1f} ms vs {bare_start * 1e3:.1f} ms)"
        )


def count_by_decoding(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        long_video = panning_video(Path(folder))
        compare(
            "synthetic 60 s 320x240 h264 (keyframe every 2 s)",
            long_video,
            [("late, on a keyframe", 1740), ("late, mid-GOP", 1770)],
        )
    real = REAL / "h264_340x256_30fps.mp4"
    if real.exists():
        compare(real.name, real, [("late, on a keyframe", 235), ("late, mid-GOP", 280)])
    hd = REAL / "h264_1080p_avi.avi"
    if hd.exists():
        times = medians({"probe": lambda: probe(hd), "decode": lambda: count_by_decoding(hd)}, 3)
        ours, bare = times["probe"], times["decode"]
        print(
            f"{hd.name}: probe / frame count by full decode = {ours / bare:.3f} "
            f"({ours * 1e3:.1f} ms vs {bare * 1e3:.1f} ms, {probe(hd).num_frames} frames)"
        )


if __name__ == "__main__":
    main()
