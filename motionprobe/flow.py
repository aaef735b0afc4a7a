"""Optical flow: TV-L1 and Farneback, the 8-bit cache, colour coding, and dataset-scale extraction.

**Sign convention** (OpenCV's): the flow of frame ``t`` is ``(dx, dy)`` such that the pixel at
``(x, y)`` in frame ``t`` is found at ``(x + dx, y + dy)`` in frame ``t + 1``. A pattern moving
right and down gives positive ``dx`` and ``dy``; x grows to the right, y downwards.

**Cache** (one folder per dataset): every video ``ROOT/rel/name.ext`` becomes
``OUT/rel/name.ext.npz`` holding ``flow``, uint8 ``(2, T-1, H, W)``: each component clipped to
``[-bound, bound]`` px (20, as for the published I3D flow) and quantised to 256 levels, and
``frames`` (T), ``fps`` (the rate the frames were taken at; the native one when ``fps`` is not
set). ``OUT/flow.json`` records the method, its parameters, bound, levels, fps, short side and
the package version; a cache is only extended with the same settings. Entries are written
atomically; a rerun skips entries that open and have the expected header, recomputes those
that do not (or, with ``verify=True``, whose data fail their checksums), and lists videos that
cannot be decoded in ``bad_items-{shard}.csv`` without stopping.
"""

from __future__ import annotations

import os
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from motionprobe import tvl1, video
from motionprobe._version import __version__
from motionprobe.io import atomic_path, hide_bars, run_lock, write_csv, write_json
from motionprobe.transforms import to_frames
from motionprobe.types import VideoError

#: Flow components are clipped to +-BOUND pixels before quantising (I3D's setting).
BOUND = 20.0
#: Quantisation levels of the cache (8 bits).
LEVELS = 256
#: ``tvl1``: OpenCV's Dual TV-L1 (CPU, one pair at a time); ``tvl1-torch``: the same algorithm and
#: parameters in PyTorch (:mod:`motionprobe.tvl1`), batched, on CPU or CUDA; ``farneback``: fast.
METHODS = ("tvl1", "tvl1-torch", "farneback")
#: OpenCV's defaults for TV-L1 (Zach et al. 2007, as used for the I3D flow); names follow OpenCV.
TVL1_PARAMS = {
    "tau": 0.25,
    "lambda_": 0.15,
    "theta": 0.3,
    "nscales": 5,
    "warps": 5,
    "epsilon": 0.01,
    "innnerIterations": 30,  # OpenCV's spelling
    "outerIterations": 10,
    "scaleStep": 0.8,
    "gamma": 0.0,
    "medianFiltering": 5,
}
#: Farneback settings of OpenCV's sample (a fast, coarser option).
FARNEBACK_PARAMS = {
    "pyr_scale": 0.5,
    "levels": 3,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
    "flags": 0,
}
META = "flow.json"
FORMAT = "npz: flow uint8 (2, T-1, H, W) over [-bound, bound], frames, fps"


def method_params(method: str, params: dict | None = None) -> dict:
    """The full parameter set of a method: its defaults updated by ``params``."""
    if method not in METHODS:
        raise ValueError(f"unknown flow method {method!r}; choose from {METHODS}")
    defaults = FARNEBACK_PARAMS if method == "farneback" else TVL1_PARAMS
    unknown = set(params or {}) - set(defaults)
    if unknown:
        raise ValueError(
            f"unknown {method} parameters {sorted(unknown)}; known: {sorted(defaults)}"
        )
    return {**defaults, **(params or {})}


class FlowEstimator:
    """A reusable estimator (TV-L1's OpenCV object is built once, not per pair).

    Call it with two greyscale uint8 ``(H, W)`` frames; it returns float32 ``(H, W, 2)``.
    ``device`` is where ``tvl1-torch`` runs (the other methods run on the CPU).
    """

    def __init__(
        self, method: str = "tvl1", params: dict | None = None, device: str | None = None
    ) -> None:
        self.method = method
        self.params = method_params(method, params)
        self.device = torch.device(device or "cpu")
        if method == "tvl1":
            self._tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(**self.params)

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        if self.method == "tvl1":
            return self._tvl1.calc(prev, nxt, None)
        if self.method == "tvl1-torch":
            pair = torch.from_numpy(np.stack([prev, nxt])).to(self.device, torch.float32)
            with torch.no_grad():  # the result may enter autograd
                field = tvl1.tvl1(pair[:1], pair[1:], self.params)[0]
            return field.permute(1, 2, 0).cpu().numpy()
        p = self.params
        return cv2.calcOpticalFlowFarneback(
            prev,
            nxt,
            None,
            p["pyr_scale"],
            p["levels"],
            p["winsize"],
            p["iterations"],
            p["poly_n"],
            p["poly_sigma"],
            p["flags"],
        )


def to_grey(frames: np.ndarray) -> list[np.ndarray]:
    """uint8 RGB ``(T, H, W, 3)`` to a list of greyscale ``(H, W)`` frames (OpenCV's weights)."""
    return [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]


def compute_flow(
    frames: np.ndarray,
    method: str = "tvl1",
    params: dict | None = None,
    estimator: FlowEstimator | None = None,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Flow between consecutive frames, on greyscale.

    Args:
        frames: uint8 RGB ``(T, H, W, 3)``, ``T >= 2``.
        method: One of :data:`METHODS`.
        params: Overrides of the method's parameters (:data:`TVL1_PARAMS` for both TV-L1s,
            :data:`FARNEBACK_PARAMS`).
        estimator: A :class:`FlowEstimator` to reuse (then ``method``/``params``/``device`` are
            ignored).
        device: Where ``tvl1-torch`` runs (default the CPU); its pairs are solved in batches.

    Returns:
        float32 ``(2, T-1, H, W)``: ``[0]`` is dx, ``[1]`` is dy, in pixels, field ``t`` from frame
        ``t`` to ``t + 1`` (see the module's sign convention). Not clipped.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 (T, H, W, 3) frames, got {frames.dtype} {frames.shape}")
    if len(frames) < 2:
        raise ValueError(f"flow needs at least 2 frames, got {len(frames)}")
    estimator = estimator or FlowEstimator(method, params, device)
    if estimator.method == "tvl1-torch":
        return torch_flow(frames, estimator.params, estimator.device).numpy()
    grey = to_grey(frames)
    out = np.empty((2, len(frames) - 1, *frames.shape[1:3]), dtype=np.float32)
    for t in range(len(frames) - 1):
        field = estimator(grey[t], grey[t + 1])
        out[0, t], out[1, t] = field[..., 0], field[..., 1]
    return out


def torch_flow(
    frames: np.ndarray | torch.Tensor, params: dict | None = None, device=None
) -> torch.Tensor:
    """``tvl1-torch`` flow of consecutive frames, batched on ``device``, returned on the CPU.

    Args:
        frames: uint8 RGB ``(T, H, W, 3)``, ``T >= 2``.
        params: Overrides of :data:`TVL1_PARAMS`.
        device: Where to solve (default the CPU).

    Returns:
        float32 ``(2, T-1, H, W)``, as :func:`compute_flow`.
    """
    params = method_params("tvl1-torch", params)
    device = torch.device(device or "cpu")
    with torch.no_grad():  # the result may enter autograd
        g = tvl1.grey(torch.as_tensor(frames).to(device))  # (T, H, W)
        t, h, w = g.shape
        out = torch.empty((2, t - 1, h, w), dtype=torch.float32)
        step = tvl1.pairs_per_batch(h, w, device)
        for s in range(0, t - 1, step):
            e = min(s + step, t - 1)
            out[:, s:e] = tvl1.tvl1(g[s:e], g[s + 1 : e + 1], params).transpose(0, 1).cpu()
    return out


def quantize(flow: np.ndarray | torch.Tensor, bound: float = BOUND) -> np.ndarray:
    """Flow in pixels to uint8: clip to ``[-bound, bound]``, map linearly onto 0..255.

    The step is ``2 bound / 255`` px (0.157 px at 20), so a round trip through
    :func:`dequantize` is within half a step (0.078 px) of the clipped flow.
    """
    flow = np.asarray(flow, dtype=np.float32)
    scaled = (np.clip(flow, -bound, bound) + bound) * ((LEVELS - 1) / (2 * bound))
    return np.rint(scaled).astype(np.uint8)


def dequantize(q: np.ndarray, bound: float = BOUND) -> np.ndarray:
    """Inverse of :func:`quantize`: uint8 to float32 pixels in ``[-bound, bound]``."""
    return np.asarray(q, dtype=np.float32) * (2 * bound / (LEVELS - 1)) - bound


def _colour_wheel() -> np.ndarray:
    # The Middlebury wheel (Baker et al. 2011): hue segments red-yellow-green-cyan-blue-magenta
    # with 15, 6, 4, 11, 13, 6 steps, so perceptually similar hues get similar arc lengths.
    segments = [(15, (255, 0, 0), (255, 255, 0)), (6, (255, 255, 0), (0, 255, 0))]
    segments += [(4, (0, 255, 0), (0, 255, 255)), (11, (0, 255, 255), (0, 0, 255))]
    segments += [(13, (0, 0, 255), (255, 0, 255)), (6, (255, 0, 255), (255, 0, 0))]
    rows = []
    for n, a, b in segments:
        f = np.arange(n)[:, None] / n
        rows.append((1 - f) * np.array(a) + f * np.array(b))
    return np.concatenate(rows) / 255.0  # (55, 3) in [0, 1]


def flow_to_color(
    flow: np.ndarray | torch.Tensor, max_magnitude: float | None = None
) -> np.ndarray:
    """Colour-code flow with the standard (Middlebury) wheel: hue is direction, saturation speed.

    Args:
        flow: ``(2, H, W)`` or ``(2, T, H, W)`` in pixels.
        max_magnitude: Speed shown fully saturated; default the largest in ``flow`` (so one
            figure is comparable within itself; pass a number to compare figures).

    Returns:
        uint8 RGB ``(H, W, 3)`` or ``(T, H, W, 3)``; zero flow is white.
    """
    flow = np.asarray(flow, dtype=np.float32)
    dx, dy = flow[0], flow[1]
    mag = np.hypot(dx, dy)
    top = float(mag.max()) if max_magnitude is None else float(max_magnitude)
    rad = mag / top if top > 0 else np.zeros_like(mag)
    wheel = _colour_wheel()
    n = len(wheel)
    angle = np.arctan2(-dy, -dx) / np.pi  # in [-1, 1]
    pos = (angle + 1) / 2 * (n - 1)
    k0 = np.floor(pos).astype(int)
    k1 = (k0 + 1) % n
    f = (pos - k0)[..., None]
    col = (1 - f) * wheel[k0] + f * wheel[k1]
    inside = (rad <= 1)[..., None]
    r = np.minimum(rad, 1)[..., None]
    col = np.where(inside, 1 - r * (1 - col), col * 0.75)  # beyond max_magnitude: darker
    return np.rint(col * 255).astype(np.uint8)


def stack_flow(flow: torch.Tensor, start: int, length: int = 10) -> torch.Tensor:
    """One temporal-stream input: ``length`` fields from ``start``, x and y interleaved.

    Args:
        flow: ``(2, T, H, W)``.

    Returns:
        ``(2 length, H, W)`` with channels ``dx_start, dy_start, dx_start+1, ...`` (docs/design.md).
    """
    if start < 0 or start + length > flow.shape[1]:
        raise ValueError(f"fields {start}..{start + length - 1} are outside 0..{flow.shape[1] - 1}")
    return flow[:, start : start + length].transpose(0, 1).reshape(2 * length, *flow.shape[2:])


# --- dataset-scale extraction -------------------------------------------------------------------


def resize_frames(frames: np.ndarray, short_side: int | None) -> np.ndarray:
    """Resize uint8 ``(T, H, W, 3)`` so that the short side is ``short_side`` (area filter)."""
    h, w = frames.shape[1:3]
    if short_side is None or min(h, w) == short_side:
        return frames
    scale = short_side / min(h, w)
    size = (max(short_side, round(w * scale)), max(short_side, round(h * scale)))  # cv2: (W, H)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def read_video(
    path: str | Path, fps: float | None = None, short_side: int | None = None
) -> tuple[np.ndarray, float]:
    """Every frame of a video (native rate, or resampled to ``fps``), resized as it is decoded.

    Returns:
        uint8 ``(T, H, W, 3)`` frames and the rate they were taken at.

    Raises:
        VideoError: The file cannot be decoded, or holds fewer than 2 frames.
    """
    if fps is None:
        frames = []
        with video._Video(path) as v:
            rate = v.fps
            for _, frame in v.frames():
                frames.append(resize_frames(v.rgb(frame)[None], short_side)[0])
        clip = np.stack(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8)
    else:
        info = video.probe(path)
        count = int(np.floor(info.duration * fps + 1e-6))
        clip = resize_frames(video.read_clip(path, max(count, 1), fps=fps, info=info), short_side)
        rate = fps
    if len(clip) < 2:
        raise VideoError(path, f"flow needs at least 2 frames, the video has {len(clip)}")
    return clip, rate


def list_videos(root: str | Path) -> list[Path]:
    """Video files under ``root`` (any depth, known extensions), sorted: the shard order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such dataset folder")
    return video.video_files(root)  # symlinked class folders included


def entry_path(out: str | Path, root: str | Path, path: str | Path) -> Path:
    """Cache file of a video: its path relative to ``root`` plus ``.npz``, under ``out``.

    The path is taken as written (a video in a symlinked class folder keeps the folder's name
    under ``root``); only when it is not below ``root`` as written are both resolved.
    """
    path, root = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    if not path.is_relative_to(root):
        path, root = path.resolve(), root.resolve()
    return Path(out) / f"{path.relative_to(root)}.npz"


def check_entry(path: str | Path, full: bool = False) -> str | None:
    """Why a cache entry is unusable, or None when it is fine.

    The quick check opens the archive (a partial file has no central directory) and reads the
    array headers; ``full`` also verifies every member's CRC (reads all data).
    """
    path = Path(path)
    if not path.is_file():
        return "missing"
    try:
        with zipfile.ZipFile(path) as z:
            if not {"flow.npy", "frames.npy", "fps.npy"} <= set(z.namelist()):
                return "incomplete entry (arrays missing)"
            with z.open("flow.npy") as f:
                major, _ = np.lib.format.read_magic(f)
                read = (
                    np.lib.format.read_array_header_1_0
                    if major == 1
                    else (np.lib.format.read_array_header_2_0)
                )
                shape, _, dtype = read(f)
            with z.open("frames.npy") as f:
                frames = int(np.lib.format.read_array(f))
            if dtype != np.uint8 or len(shape) != 4 or shape[0] != 2 or shape[1] != frames - 1:
                return f"unexpected flow array {dtype} {shape} for {frames} frames"
            if full and z.testzip() is not None:
                return f"checksum mismatch in {z.testzip()}"
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        return f"unreadable entry ({err})"
    return None


def save_entry(path: str | Path, flow: np.ndarray, frames: int, fps: float) -> None:
    """Atomically write a quantised entry (``flow`` in pixels, ``(2, frames-1, H, W)``)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, flow=quantize(flow), frames=np.int64(frames), fps=np.float64(fps))


def load_entry(path: str | Path, bound: float = BOUND) -> tuple[np.ndarray, float]:
    """A cache entry as float32 pixels ``(2, T-1, H, W)`` and the rate its frames were taken at.

    Raises:
        VideoError: The entry is missing, partial or corrupt (checksums are verified on read).
    """
    try:
        with np.load(path) as z:
            return dequantize(z["flow"], bound), float(z["fps"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise VideoError(path, f"unusable flow cache entry ({err})") from err


def _shard_from_env() -> tuple[int, int]:
    # torchrun sets WORLD_SIZE and RANK: each rank takes its share with no other coordination.
    return int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))


def _init_worker() -> None:
    # One thread per process: workers, not threads, use the cores, and they do not oversubscribe.
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _extract_one(
    job: tuple, decoded: tuple | Exception | None = None
) -> tuple[str, str | None, int]:
    """Flow of one video into its entry; ``decoded`` is its frames (or why they could not be
    read) when read already."""
    path, entry, method, params, fps, short_side, device = job
    try:
        if isinstance(decoded, Exception):
            raise decoded
        frames, rate = decoded if decoded is not None else read_video(path, fps, short_side)
        flow = compute_flow(frames, estimator=FlowEstimator(method, params, device))
        save_entry(entry, flow, len(frames), rate)
        return str(path), None, len(frames)
    except VideoError as err:
        return str(path), err.reason, 0
    except Exception as err:  # one bad video must not stop a dataset-scale run
        return str(path), f"{type(err).__name__}: {err}", 0


def _decode(job: tuple) -> tuple | Exception:
    """A job's frames and rate, or the error that stopped them (:func:`_extract_one` reports
    it, in order, without decoding the video again)."""
    try:
        return read_video(job[0], job[4], job[5])
    except Exception as err:  # noqa: BLE001  (reported with the video, not raised here)
        return err


def _gpu_results(todo: list[tuple], threads: int):
    """Results of ``todo`` solved on a GPU in this process, ``threads`` videos decoded ahead.

    CUDA does not survive ``fork`` and one process feeds a GPU; decoding (PyAV releases the GIL)
    overlaps with the solver instead. At most ``threads`` videos wait decoded, so memory stays
    bounded however far decoding could outrun the GPU.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(threads)
    jobs, ahead = iter(todo), deque()
    try:
        for job in jobs:
            ahead.append((job, pool.submit(_decode, job)))
            if len(ahead) > threads:
                job, decoded = ahead.popleft()
                yield _extract_one(job, decoded.result())
        while ahead:
            job, decoded = ahead.popleft()
            yield _extract_one(job, decoded.result())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def flow_settings(
    method: str = "tvl1",
    params: dict | None = None,
    fps: float | None = None,
    short_side: int | None = None,
) -> dict:
    """The settings a cache is made with (``flow.json``), comparable across runs."""

    return {
        "method": method,
        "params": method_params(method, params),
        "bound": BOUND,
        "levels": LEVELS,
        "fps": fps,
        "short_side": short_side,
        "format": FORMAT,
        "version": __version__,
    }


def read_settings(out: str | Path) -> dict:
    """``flow.json`` of a cache folder."""
    path = Path(out) / META
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a flow cache (no {META}); run `motionprobe flow`")
    import json

    return json.loads(path.read_text())


def extract_flow(
    root: str | Path,
    out: str | Path,
    method: str = "tvl1",
    params: dict | None = None,
    workers: int = 1,
    fps: float | None = None,
    short_side: int | None = None,
    num_shards: int | None = None,
    shard_index: int | None = None,
    verify: bool = False,
    progress: bool = True,
    device: str | None = None,
) -> dict:
    """Extract and cache the flow of every video under ``root`` (this shard's share).

    Args:
        root: Dataset folder; every video file below it is processed (Kinetics layout or not).
        out: Cache folder (see the module docstring for the format).
        method: One of :data:`METHODS`; ``params`` override its parameters.
        workers: Processes on this machine (each single-threaded); with ``tvl1-torch`` on a GPU,
            threads decoding ahead of the one process that feeds the GPU.
        fps: Resample videos to this rate first (None: native rate).
        short_side: Resize frames to this short side first (None: as stored).
        num_shards, shard_index: This machine's share, videos ``shard_index::num_shards`` of the
            sorted list; by default ``WORLD_SIZE`` and ``RANK`` (set by torchrun), else 1 and 0.
        verify: Check every existing entry's checksums, not just its header.
        progress: Show a progress bar over videos.
        device: Where ``tvl1-torch`` runs (default the CPU); not part of the cache's settings, as
            the devices agree to well within a quantisation step.

    Returns:
        Summary: ``videos`` (this shard), ``skipped`` (already done), ``computed``, ``recomputed``
        (entries found partial or corrupt, with reasons), ``bad`` (videos that failed, with
        reasons), ``frames`` computed, ``seconds``, ``out``.
    """
    root, out = Path(root), Path(out)
    if num_shards is None:
        num_shards, shard_index = _shard_from_env()
    shard_index = shard_index or 0
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard index {shard_index} is outside 0..{num_shards - 1}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    tag = f"{shard_index}-of-{num_shards}"
    with run_lock(out, f"flow shard {tag}", name=f".lock-{tag}", clean=False):
        return _extract(root, out, method, params, workers, fps, short_side, num_shards,
                        shard_index, verify, progress, device)  # fmt: skip


def _extract(
    root: Path,
    out: Path,
    method: str,
    params: dict | None,
    workers: int,
    fps: float | None,
    short_side: int | None,
    num_shards: int,
    shard_index: int,
    verify: bool,
    progress: bool,
    device: str | None = None,
) -> dict:
    """:func:`extract_flow` once this shard's lock is held."""
    from tqdm.auto import tqdm

    settings = _claim_cache(out, flow_settings(method, params, fps, short_side))

    videos = list_videos(root)[shard_index::num_shards]
    todo, recomputed = [], []
    for path in videos:
        entry = entry_path(out, root, path)
        reason = check_entry(entry, full=verify)
        if reason is None:
            continue
        if reason != "missing":
            recomputed.append((str(entry), reason))
        # A killed run can leave its temporary file (atomic_path names it ".{stem}.*"); each
        # video belongs to one shard, so this never touches another machine's work in progress.
        for stale in entry.parent.glob(f".{entry.stem}.*.npz"):
            stale.unlink(missing_ok=True)
        todo.append((str(path), str(entry), method, settings["params"], fps, short_side, device))

    start = time.perf_counter()
    bad, frames = [], 0
    if method == "tvl1-torch" and torch.device(device or "cpu").type == "cuda":
        with tqdm(
            total=len(todo), desc=f"flow {method}", unit="video", disable=hide_bars(progress)
        ) as bar:
            for path, reason, n in _gpu_results(todo, workers):
                frames += _tally(bar, bad, path, reason, n)
    elif workers == 1:
        threads = cv2.getNumThreads(), torch.get_num_threads()
        _init_worker()
        try:
            with tqdm(
                total=len(todo), desc=f"flow {method}", unit="video", disable=hide_bars(progress)
            ) as bar:
                for path, reason, n in map(_extract_one, todo):
                    frames += _tally(bar, bad, path, reason, n)
        finally:
            cv2.setNumThreads(threads[0])
            torch.set_num_threads(threads[1])
    else:
        import multiprocessing as mp

        # fork on Linux: workers inherit the imported modules instead of spending seconds
        # re-importing torch each (they run OpenCV and PyAV only). Not for tvl1-torch: its torch
        # ops would deadlock on the OpenMP pool a forked child inherits. The pool starts before
        # the progress bar's thread exists.
        fork = sys.platform == "linux" and method != "tvl1-torch"
        ctx = mp.get_context("fork" if fork else "spawn")
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            results = pool.imap_unordered(_extract_one, todo)
            with tqdm(
                total=len(todo), desc=f"flow {method}", unit="video", disable=hide_bars(progress)
            ) as bar:
                for path, reason, n in results:
                    frames += _tally(bar, bad, path, reason, n)
    tag = f"{shard_index}-of-{num_shards}"
    write_csv(out / f"bad_items-{tag}.csv", pd.DataFrame(bad, columns=["path", "reason"]))
    return {
        "videos": len(videos),
        "skipped": len(videos) - len(todo),
        "computed": len(todo) - len(bad),
        "recomputed": recomputed,
        "bad": bad,
        "frames": frames,
        "seconds": time.perf_counter() - start,
        "shard": tag,
        "out": str(out),
    }


def _claim_cache(out: Path, settings: dict) -> dict:
    """Write the cache's settings, or check that an existing cache was made with the same."""
    if not (out / META).is_file():
        write_json(out / META, settings)
        return settings
    old = read_settings(out)
    keys = ("method", "params", "bound", "levels", "fps", "short_side")
    diff = [k for k in keys if old.get(k) != settings[k]]
    if diff:
        raise ValueError(
            f"{out / META}: the cache was made with other settings ({', '.join(diff)}: "
            f"{[old.get(k) for k in diff]} vs {[settings[k] for k in diff]}); use another --out"
        )
    return settings


def _tally(bar, bad: list, path: str, reason: str | None, n: int) -> int:
    """Count one finished video on the bar (and in ``bad``); returns its frames."""
    if reason is not None:
        bad.append((path, reason))
    bar.update(1)
    bar.set_postfix(bad=len(bad))
    return n


def clip_flow(x: torch.Tensor, method: str = "farneback") -> torch.Tensor:
    """Flow of pixel-unit clips ``(B, 3, T, H, W)`` -> ``(B, 2, T-1, H, W)`` in pixels.

    Computed on the CPU with :mod:`motionprobe.flow` (greyscale, that module's sign convention);
    ``tvl1-torch`` runs where ``x`` is, all the clips' pairs in batches.
    Identical consecutive frames get exactly zero flow without calling the estimator: a frozen
    clip's flow is known.
    """
    if x.shape[1] not in (1, 3):
        raise ValueError(f"computing flow needs 1 or 3 channels, got {x.shape[1]}; pass flow")
    if method == "tvl1-torch":
        return _clip_flow_torch(x)
    frames = to_frames(x.expand(-1, 3, -1, -1, -1))  # (B, T, H, W, 3) uint8
    b, t, h, w, _ = frames.shape
    out = np.zeros((b, 2, t - 1, h, w), dtype=np.float32)
    estimator = FlowEstimator(method)
    for i in range(b):
        grey = to_grey(frames[i])
        for s in range(t - 1):
            if not np.array_equal(grey[s], grey[s + 1]):
                out[i, :, s] = estimator(grey[s], grey[s + 1]).transpose(2, 0, 1)
    return torch.from_numpy(out).to(x.device)


def _clip_flow_torch(x: torch.Tensor) -> torch.Tensor:
    """:func:`clip_flow` with ``tvl1-torch`` on ``x``'s device (frames rounded as decoded)."""
    with torch.no_grad():  # the result may enter autograd
        frames = x.detach().float().round().clamp(0, 255).expand(-1, 3, -1, -1, -1)
        g = tvl1.grey(frames.permute(0, 2, 3, 4, 1))  # (B, T, H, W)
        b, t, h, w = g.shape
        first, second = g[:, :-1].flatten(0, 1), g[:, 1:].flatten(0, 1)
        out = torch.zeros((b * (t - 1), 2, h, w), device=x.device)
        moving = torch.nonzero((first != second).flatten(1).any(dim=1)).flatten()
        params = method_params("tvl1-torch")
        step = tvl1.pairs_per_batch(h, w, x.device)
        for s in range(0, len(moving), step):
            idx = moving[s : s + step]
            out[idx] = tvl1.tvl1(first[idx], second[idx], params)
    return out.unflatten(0, (b, t - 1)).transpose(1, 2).contiguous()
