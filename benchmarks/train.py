"""Training throughput: clips/s per model, and the share of step time spent waiting for data.

1. Tiny variants through the real pipeline (a synthetic dataset written to a temporary folder,
   decoded, flow computed with Farneback where a model takes flow, cropped, batched by the
   DataLoader): clips/s of training steps and the fraction of each step spent waiting for the
   batch (``data share``), after a warm-up epoch that fills the decode cache and one that does not
   (``cold``: decoding every clip).
2. Full-size models at their paper input on random clips at batch 1 (the step alone): clips/s.
3. On a GPU (when one is present), full-size I3D RGB at 64x224x224 with bf16 autocast and
   channels-last: clips/s, the step split into data, forward and backward, and the model FLOP
   utilisation against the card's dense bf16 peak.

4. ``--loader``: clips/s of the training DataLoader (``make_loader`` for I3D RGB at 64 frames,
   224 crop, as :mod:`motionprobe.train` builds it) on Kinetics-like videos (340x256 h264, 10 s,
   25 fps) against a bare PyAV decode of the same frames, one worker and two, interleaved in
   rounds so that drift affects all alike, and the resident memory of each worker
   (:func:`loader_figures`). ``--tiny`` runs it on tiny videos in a few seconds; ``--device
   cuda`` pins the batches' memory, as training on a GPU does.

Run: ``python benchmarks/train.py`` (about 4 minutes on 2 CPU cores);
``python benchmarks/train.py --loader`` (about 2 minutes).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

try:
    from motionprobe.data.loaders import make_loader
    from motionprobe.data.synthetic import synthesize
    from motionprobe.device import reuse_freed_memory
    from motionprobe.models import create_model, list_models
    from motionprobe.models.adapter import Target, make_target
    from motionprobe.transforms import Preset, preset
    from motionprobe.video import probe, read_clip, write_video
except ModuleNotFoundError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from motionprobe.data.loaders import make_loader
    from motionprobe.data.synthetic import synthesize
    from motionprobe.device import reuse_freed_memory
    from motionprobe.models import create_model, list_models
    from motionprobe.models.adapter import Target, make_target
    from motionprobe.transforms import Preset, preset
    from motionprobe.video import probe, read_clip, write_video

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import GPU_PEAK_BF16, channels_last  # noqa: E402  (the sibling benchmark)

CLASSES = ["red_object", "still", "move_right", "move_left"]


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def pipeline_epoch(target: Target, loader, opt, device: str) -> tuple[int, float, float]:
    """One training epoch: clips, seconds waiting for batches, seconds in total."""
    clips, waiting, start = 0, 0.0, time.perf_counter()
    iterator = iter(loader)
    while True:
        t0 = time.perf_counter()
        batch = next(iterator, None)
        waiting += time.perf_counter() - t0
        if batch is None:
            break
        inputs = target.batch_inputs(batch, device)
        loss = nn.functional.cross_entropy(target.model(*inputs), batch["label"].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        clips += len(batch["label"])
    return clips, waiting, time.perf_counter() - start


def tiny(root: Path) -> None:
    for name in [n for n in list_models() if n.endswith("_tiny")]:
        model = create_model(name, num_classes=len(CLASSES))
        target = make_target(model, "cpu", CLASSES, 16)
        model.train()  # the adapter hands models over in eval mode
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        for cache in (False, True):
            loader, dataset, _ = make_loader(
                root,
                "train",
                CLASSES,
                target.rgb_preset,
                frames=16,
                batch_size=8,
                train=True,
                cache=cache,
                modality=target.modality,
                flow_method="farneback",
            )
            if cache:
                pipeline_epoch(target, loader, opt, "cpu")  # fills the decode cache
            clips, waiting, total = pipeline_epoch(target, loader, opt, "cpu")
            label = "cached" if cache else "cold  "
            print(
                f"{name:20s} {label} {clips / total:7.1f} clips/s  data share "
                f"{waiting / total:5.2f}  ({clips} clips in {total:.1f} s)",
                flush=True,
            )


def full_size(device: str) -> None:
    for name in [n for n in list_models() if not n.endswith("_tiny")]:
        model = create_model(name, num_classes=400).to(device).train()
        opt = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9)
        inputs = [x.to(device) for x in model.example_inputs(batch=1)]
        label = torch.zeros(1, dtype=torch.long, device=device)

        times = []
        for i in range(3):  # the first is a warm-up
            t0 = time.perf_counter()
            loss = nn.functional.cross_entropy(model(*inputs), label)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if i:
                times.append(time.perf_counter() - t0)
        print(f"{name:20s} full size, batch 1: {1 / min(times):6.3f} clips/s", flush=True)


def gpu_i3d(batch: int = 8, steps: int = 10) -> None:
    """Full-size I3D RGB on a GPU: bf16, channels-last, the step split, MFU."""
    device = "cuda"
    model = channels_last(create_model("i3d_rgb", num_classes=400).to(device).train())
    opt = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9)
    host = torch.randint(0, 256, (batch, 3, 64, 224, 224), dtype=torch.uint8).pin_memory()
    labels = torch.randint(0, 400, (batch,), device=device)
    with FlopCounterMode(display=False) as counter:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(model(model.example_inputs(batch)[0].cuda()), labels)
        loss.backward()
    flops = counter.get_total_flops()  # forward + backward of one batch
    split = {"data": 0.0, "forward": 0.0, "backward": 0.0}
    for i in range(steps + 2):
        _sync(device)
        t0 = time.perf_counter()
        x = host.to(device, non_blocking=True).float().div_(127.5).sub_(1)
        x = x.contiguous(memory_format=torch.channels_last_3d)
        _sync(device)
        t1 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(model(x), labels)
        _sync(device)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
        t3 = time.perf_counter()
        if i >= 2:  # warm-up steps excluded
            split["data"] += t1 - t0
            split["forward"] += t2 - t1
            split["backward"] += t3 - t2
    total = sum(split.values())
    card = torch.cuda.get_device_name()
    peak = next((v for k, v in GPU_PEAK_BF16.items() if k in card), None)
    tflops = flops * steps / total / 1e12
    shares = ", ".join(f"{k} {v / total:.2f}" for k, v in split.items())
    mfu = f"MFU {tflops / peak:.3f} of {peak} TFLOP/s" if peak else "peak unknown"
    print(
        f"i3d_rgb on {card}, bf16, batch {batch}: {batch * steps / total:.1f} clips/s; step "
        f"{shares}; {tflops:.1f} TFLOP/s, {mfu}"
    )


#: A real Kinetics clip (340x256, 10 s) whose texture and motion the loader videos reuse.
REAL_SOURCE = Path(__file__).resolve().parents[2] / "shared/data/real/kinetics_arm_wrestling.mp4"


def _texture(frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """A blurred noise texture drifting right and down: uint8 ``(frames, height, width, 3)``."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    smooth = np.kron(coarse, np.ones((8, 8, 1), np.float32))  # blocky, then blurred by averaging
    for axis in (0, 1):
        smooth = sum(np.roll(smooth, k, axis) for k in range(-4, 4)) / 8
    return np.stack(
        [np.roll(smooth, (t, 2 * t), (0, 1))[:height, :width] for t in range(frames)]
    ).astype(np.uint8)


def kinetics_like(
    out: Path,
    videos: int,
    seconds: float = 10.0,
    size: tuple[int, int] = (340, 256),
    fps: float = 25.0,
    distinct: int = 4,
) -> Path:
    """A Kinetics-layout ``train`` split of ``videos`` h264 videos, ``size = (W, H)``.

    At 340x256 the frames are :data:`REAL_SOURCE`'s (looped, mirrored in time and rolled
    sideways per video, so each is different), else a drifting noise texture. Only ``distinct``
    videos are encoded; the others are copies under their own names (decoding cost is the same).

    Returns:
        The dataset root (``train.csv``, ``train/<label>/<id>_000000_<end>.mp4``).
    """
    width, height = size
    count = round(seconds * fps)
    real = None
    if (width, height) == (340, 256) and REAL_SOURCE.is_file():
        info = probe(REAL_SOURCE)
        if (info.width, info.height) == size:
            real = read_clip(REAL_SOURCE, info.num_frames)
    end = int(round(seconds))
    rows, written = ["label,youtube_id,time_start,time_end,split"], []
    for i in range(videos):
        label, vid = f"class_{i % 2}", f"video{i:04d}"
        path = out / "train" / label / f"{vid}_000000_{end:06d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        if i < distinct:
            if real is not None:
                looped = np.concatenate([real, real[::-1]] * (count // (2 * len(real)) + 1))
                frames = np.roll(looped[i : i + count], 53 * i, axis=2)
            else:
                frames = _texture(count, height, width, seed=i)
            written.append(write_video(path, frames, fps=fps))
        else:
            shutil.copyfile(written[i % len(written)], path)
        rows.append(f"{label},{vid},0,{end},train")
    (out / "train.csv").write_text("\n".join(rows) + "\n")
    return out


def _bare_clip(
    path: str, start: int, frames: int, fps: float, box: tuple[int, int, int], threads: int = 1
):
    """The loader's clip decoded with PyAV and nothing else: seek to the keyframe before frame
    ``start``, decode to uint8 RGB until ``frames`` frames from ``start``, crop ``box = (top,
    left, size)``. Returns uint8 ``(frames, size, size, 3)``."""
    top, left, size = box
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # as the loader's decoder, with one worker's threads
        stream.codec_context.thread_count = threads
        first = (stream.start_time or 0) + round(start / fps / stream.time_base)
        container.seek(first, stream=stream, backward=True)
        out = []
        # RGB conversion by one scaler thread with a kept context, as the loader's decoder does
        # (FFmpeg's automatic scaler threads cost more than they save at this size).
        converter = VideoReformatter()
        one_thread = {"threads": 1} if int(av.__version__.split(".")[0]) >= 17 else {}
        for frame in container.decode(stream):
            if frame.pts >= first - 0.5 / fps / stream.time_base:
                rgb = converter.reformat(frame, format="rgb24", **one_thread).to_ndarray()
                out.append(rgb[top : top + size, left : left + size])
                if len(out) == frames:
                    break
    return np.stack(out)


def _bare_plan(dataset) -> list[tuple[str, int, float, tuple[int, int, int]]]:
    """For each item of the loader's epoch: path, start frame, fps and the crop its transform
    draws (the same seeded generator, so the very frames the loader decodes)."""
    plan, size = [], dataset.transform.preset.crop
    for index, record in enumerate(dataset.records):
        info = dataset.info(str(record.path))
        rng = np.random.default_rng([dataset.seed, dataset.epoch, index])
        top = int(rng.integers(0, info.height - size + 1))
        left = int(rng.integers(0, info.width - size + 1))
        start = dataset.clip_start(index, info)
        plan.append((str(record.path), start, info.fps, (top, left, size)))
    return plan


def _bare_share(share: list, frames: int, threads: int) -> float:
    """Seconds to bare-decode one process's share of the plan (a pool's task)."""
    t0 = time.perf_counter()
    for path, start, fps, box in share:
        _bare_clip(path, start, frames, fps, box, threads)
    return time.perf_counter() - t0


def _memory(pid: int) -> tuple[float, float]:
    """Resident and unique (not shared with other processes) memory of ``pid``, in MiB."""
    try:
        import psutil

        full = psutil.Process(pid).memory_full_info()
        return full.rss / 2**20, full.uss / 2**20
    except ImportError:  # /proc: resident only
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024, float("nan")
    except Exception:  # noqa: BLE001  (a worker that already exited)
        pass
    return float("nan"), float("nan")


def _loader_epoch(loader) -> tuple[int, float, list[tuple[float, float]]]:
    """One epoch: clips, seconds and the memory of each worker half-way through."""
    clips, memory, t0 = 0, [], time.perf_counter()
    iterator = iter(loader)
    for i, batch in enumerate(iterator):
        clips += len(batch["label"])
        if i == len(loader) // 2 and not memory:
            memory = [_memory(w.pid) for w in getattr(iterator, "_workers", [])]
    seconds = time.perf_counter() - t0
    del iterator
    return clips, seconds, memory


def _rounds(rounds, runs, plan, frames, threads, loaders, pool, seconds, rss, uss) -> None:
    """The timed rounds of :func:`loader_figures`, adding to ``seconds``, ``rss`` and ``uss``."""
    for r in range(rounds):
        for run in runs[r % 4 :] + runs[: r % 4]:
            if run == "bare2":
                halves = [(plan[0::2], frames, threads), (plan[1::2], frames, threads)]
                t0 = time.perf_counter()
                pool.starmap(_bare_share, halves)
                seconds["bare2"] += time.perf_counter() - t0
            elif run == "bare":
                t0 = time.perf_counter()
                for path, start, fps, box in plan:
                    _bare_clip(path, start, frames, fps, box, threads)
                seconds["bare"] += time.perf_counter() - t0
            else:
                clips, took, memory = _loader_epoch(loaders[run])
                assert clips == len(plan), (clips, len(plan))
                seconds[run] += took
                rss += [m[0] for m in memory]
                uss += [m[1] for m in memory]


def loader_figures(
    tiny: bool = False,
    device: str = "cpu",
    rounds: int | None = None,
    videos: int | None = None,
    batch_size: int = 2,
    threads: int = 1,
) -> dict:
    """Loader clips/s per worker and with 2 workers against a bare PyAV decode of the same clips.

    Every decoder (the bare one and each worker's) uses ``threads`` threads, 1 by default: a
    worker is then one core's work, as in a many-worker run on a GPU machine, so the ratio is the
    loader's efficiency per core and the 2-worker figure its scaling (on 2 cores at most 2x).

    The dataset is :func:`kinetics_like` (``tiny``: 64x48, 2 s, 8-frame clips of a 32 crop);
    the loader is ``make_loader``'s training loader for I3D RGB (64 frames, 224 crop of the
    340x256 frames, uint8 clips as training keeps them), pinned when ``device`` is CUDA. Each
    round times bare decoding, the 1-worker loader, the 2-worker loader and bare decoding in
    2 processes (each half of the clips) in turn (the order rotating), each over one epoch with
    the same clips. The last is the machine's own ceiling for 2 workers: 2 vCPUs that share a
    physical core or memory bandwidth do not decode twice as fast as one. Each loader's first
    epoch is timed apart (``first``, 1 worker): a training run starts its persistent workers
    once, and a worker keeps every header it probed, so a long run's epochs are those that
    follow (the timed ones repeat the first epoch's clips, whose headers each worker knows: one
    worker knows them all from its second epoch, each of several after a few epochs).

    Returns:
        ``bare``, ``one``, ``two``: clips/s over all rounds; ``ratio``: one / bare;
        ``speedup``: two / one; ``bare2``: clips/s of the 2-process bare decode and
        ``ceiling``: bare2 / bare, the most ``speedup`` can be here; ``first``: clips/s of the
        1-worker loader's first epoch; ``rss``, ``uss``: MiB per
        worker (largest seen); ``identical``:
        whether the loader's first clip equals the bare decode's; ``clips``, ``rounds``,
        ``shape`` (one clip ``(3, T, crop, crop)``) and ``dtype``.
    """
    rounds = rounds or (1 if tiny else 3)
    videos = videos or (8 if tiny else 16)
    if tiny:
        frames, spec = 8, dict(seconds=2.0, size=(64, 48), distinct=2)
        clip_preset = Preset("i3d_rgb", (127.5,) * 3, (127.5,) * 3, 48, 32)
    else:
        frames, spec, clip_preset = 64, {}, preset("i3d_rgb")
    with tempfile.TemporaryDirectory() as tmp:
        root = kinetics_like(Path(tmp) / "kinetics", videos, **spec)

        def loader(workers: int):
            return make_loader(
                root,
                "train",
                None,
                clip_preset,
                frames=frames,
                batch_size=batch_size,
                train=True,
                workers=workers,
                uint8=True,  # as motionprobe.train builds it
                pin_memory=torch.device(device).type == "cuda",
                threads=threads,
            )

        loaders = {w: loader(w)[0] for w in (1, 2)}
        # A third copy probes the videos for the plan: the loaders' workers must probe them
        # themselves each epoch, as in training, not inherit this process's probes.
        dataset = loader(0)[1]
        plan = _bare_plan(dataset)
        first = dataset[0]["video"]
        path, start, fps, box = plan[0]
        bare_first = torch.from_numpy(_bare_clip(path, start, frames, fps, box, threads))
        identical = torch.equal(first, bare_first.permute(3, 0, 1, 2))
        seconds = {"bare": 0.0, 1: 0.0, 2: 0.0, "bare2": 0.0}
        rss, uss = [], []
        runs = ["bare", 1, 2, "bare2"]
        # Started once, as the loaders' persistent workers are: its start is not timed.
        pool = multiprocessing.get_context("fork").Pool(2)
        try:
            # A training run starts its persistent workers once and they keep the headers they
            # probed: one untimed epoch each brings the loaders to that steady state.
            cold = {w: _loader_epoch(loaders[w])[:2] for w in (1, 2)}
            _rounds(rounds, runs, plan, frames, threads, loaders, pool, seconds, rss, uss)
        finally:
            pool.terminate()
            pool.join()
    rate = {k: rounds * len(plan) / v for k, v in seconds.items()}
    return {
        "bare": rate["bare"],
        "one": rate[1],
        "two": rate[2],
        "ratio": rate[1] / rate["bare"],
        "speedup": rate[2] / rate[1],
        "bare2": rate["bare2"],
        "ceiling": rate["bare2"] / rate["bare"],
        "first": cold[1][0] / cold[1][1],
        "rss": max(rss, default=float("nan")),
        "uss": max(uss, default=float("nan")),
        "identical": identical,
        "clips": len(plan),
        "rounds": rounds,
        "shape": tuple(first.shape),
        "dtype": str(first.dtype).replace("torch.", ""),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def print_loader(f: dict) -> None:
    """One line per figure of :func:`loader_figures`."""
    print(
        f"loader: {f['clips']} clips {f['dtype']} {f['shape']} x {f['rounds']} rounds, "
        f"{f['cores']} cores; loader clip == bare decode: {f['identical']}"
    )
    print(f"loader clips/s per worker (1 worker): {f['one']:8.2f}")
    print(f"bare decode clips/s (1 process):      {f['bare']:8.2f}")
    print(f"loader / bare decode:                 {f['ratio']:8.2f}  (target >= 0.9)")
    print(f"  first epoch (worker start, headers probed): {f['first']:.2f} clips/s, "
          f"{f['first'] / f['bare']:.2f} of bare decode")  # fmt: skip
    print(f"loader clips/s with 2 workers:        {f['two']:8.2f}")
    print(f"2-worker speed-up over 1 worker:      {f['speedup']:8.2f}  (target >= 1.8)")
    print(f"bare decode clips/s (2 processes):    {f['bare2']:8.2f}")
    print(f"  its speed-up, this machine's ceiling: {f['ceiling']:6.2f}")
    print(f"memory per worker: RSS {f['rss']:.0f} MiB, unique {f['uss']:.0f} MiB", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loader", action="store_true", help="only the DataLoader figures")
    parser.add_argument("--tiny", action="store_true", help="tiny videos: a few seconds")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (pins loader batches)")
    parser.add_argument("--rounds", type=int, default=None, help="loader rounds (default 3)")
    args = parser.parse_args(argv)
    reuse_freed_memory()  # as the command line does before training
    if args.loader:
        print_loader(loader_figures(args.tiny, args.device, args.rounds))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = synthesize(
            Path(tmp) / "synth", 8, 0, 0, frames=32, size=64, classes=CLASSES, progress=False
        )
        tiny(root)
    full_size("cpu")
    if torch.cuda.is_available():
        gpu_i3d()


if __name__ == "__main__":
    main()
