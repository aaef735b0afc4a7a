"""Cost of each full-size model at batch 1: time per clip, peak memory, achieved FLOP/s.

For every full-size model of the registry, at its paper input size (``model.example_inputs()``):

- forward time per clip (``eval()``, ``inference_mode``) and forward+backward time per clip (the
  same ``eval()`` computation with gradients, loss = sum of logits: what an attribution costs;
  training costs about the same, except ``two_stream``, which trains on one position per clip
  instead of the 25 it averages at test), medians of ``--repeats`` runs after a warm-up;
- peak memory: on CPU the process's peak resident set size (each model runs in its own spawned
  process, so peaks do not mix) and the growth over the built model; on a GPU
  ``torch.cuda.max_memory_allocated``;
- FLOPs of one forward pass (``torch.utils.flop_counter``, convolutions and matrix products; the
  LSTM's recurrent cell is not counted) and the achieved rate, as a ratio to a baseline measured
  in the same run: on CPU a 2048x2048 float32 matrix product on the same cores, on a GPU the
  card's dense bf16 peak.

On a GPU the models run under bf16 autocast with channels-last memory formats
(``channels_last_3d`` for 3-D convolutions). Run: ``python benchmarks/models.py`` (about 10 minutes
on 2 CPU cores; ``--models i3d_rgb c3d`` or ``--repeats 1`` for less).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

try:
    from motionprobe.models import create_model, list_models
except ModuleNotFoundError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from motionprobe.models import create_model, list_models

#: Dense bf16 tensor-core peaks (TFLOP/s) by device-name fragment, from the vendors' data sheets.
GPU_PEAK_BF16 = {"H200": 989.4, "H100 SXM": 989.4, "H100 PCIe": 756.0, "H100": 989.4, "A100": 312.0}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _median_time(fn, repeats: int, device: str) -> float:
    fn()  # warm-up: allocator, kernels, autotuning
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def channels_last(model: nn.Module) -> nn.Module:
    """Channels-last weights: ``channels_last_3d`` for 3-D convolutions, ``channels_last`` 2-D."""
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            module.to(memory_format=torch.channels_last_3d)
        elif isinstance(module, nn.Conv2d):
            module.to(memory_format=torch.channels_last)
    return model


def measure(name: str, repeats: int, device: str, queue) -> None:
    """Child process: measure one model and put a result dict on ``queue``."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=400).to(device)
    inputs = [x.to(device) for x in model.example_inputs(batch=1)]
    if device == "cuda":
        model = channels_last(model)
        inputs = [x.contiguous(memory_format=torch.channels_last_3d) for x in inputs]
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")
    built = _rss_mb()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(*inputs)
    flops = counter.get_total_flops()

    def forward():
        with torch.inference_mode(), autocast:
            model(*inputs)

    def forward_backward():
        model.zero_grad(set_to_none=True)
        with autocast:
            loss = model(*inputs).float().sum()
        loss.backward()

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model.eval()
    fwd = _median_time(forward, repeats, device)
    # A training step's mode: cuDNN's LSTM has no backward in eval mode.
    model.train()
    fwd_bwd = _median_time(forward_backward, repeats, device)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _rss_mb()
    params = sum(p.numel() for p in model.parameters())
    queue.put(
        dict(
            name=name, params=params, flops=flops, fwd=fwd, fwd_bwd=fwd_bwd, peak=peak, built=built
        )
    )


def matmul_gflops(device: str, repeats: int = 5) -> float:
    """Baseline: a 2048x2048 matrix product (float32 on CPU, bf16 on a GPU), in GFLOP/s."""
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    a = torch.randn(2048, 2048, device=device, dtype=dtype)
    b = torch.randn(2048, 2048, device=device, dtype=dtype)
    seconds = _median_time(lambda: a @ b, repeats, device)
    return 2 * 2048**3 / seconds / 1e9


def main(argv: list[str] | None = None) -> None:
    full = [n for n in list_models() if not n.endswith("_tiny")]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=full, choices=full)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    baseline = matmul_gflops(args.device)
    if args.device == "cuda":
        card = torch.cuda.get_device_name()
        peak = next((v for k, v in GPU_PEAK_BF16.items() if k in card), None)
        print(f"device: {card}, bf16 autocast, channels-last; matmul {baseline / 1e3:.1f} TFLOP/s")
    else:
        print(f"device: CPU, {torch.get_num_threads()} threads; fp32 matmul {baseline:.1f} GFLOP/s")
    ctx = mp.get_context("spawn")
    for name in args.models:
        queue = ctx.Queue()
        child = ctx.Process(target=measure, args=(name, args.repeats, args.device, queue))
        child.start()
        child.join()  # the result is a small dict: the queue cannot block the child's exit
        if child.exitcode or queue.empty():
            print(f"{name:15s} failed (exit {child.exitcode}): see the traceback above", flush=True)
            continue
        r = queue.get()
        rate = r["flops"] / r["fwd"] / 1e9  # GFLOP/s of the forward pass
        line = (
            f"{name:15s} {r['params'] / 1e6:6.2f} M params  {r['flops'] / 1e9:7.1f} GFLOP/clip  "
            f"fwd {r['fwd']:7.3f} s/clip  fwd+bwd {r['fwd_bwd']:7.3f} s/clip  "
        )
        if args.device == "cuda":
            line += f"peak {r['peak']:7.0f} MiB  {rate / 1e3:6.1f} TFLOP/s"
            line += f" = {rate / 1e3 / peak:.3f} of the card's peak" if peak else " (peak unknown)"
        else:
            line += (
                f"peak RSS {r['peak']:6.0f} MiB (+{r['peak'] - r['built']:5.0f} over the model)  "
                f"{rate:6.1f} GFLOP/s = {rate / baseline:.2f} of matmul"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
