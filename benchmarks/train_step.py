"""Training step throughput of one model: clips/s and model FLOP utilisation (MFU).

Random clips already on the device (the step alone: forward, backward and an SGD step; no data
loading), after warm-up steps. On a GPU the model runs under bf16 autocast with channels-last
weights and inputs (``channels_last_3d`` for 3-D convolutions) and the MFU is against the card's
dense bf16 peak (:data:`models.GPU_PEAK_BF16`); on a CPU it runs in float32 and the utilisation is
against a float32 2048x2048 matrix product on the same cores. FLOPs are counted once with
``torch.utils.flop_counter`` (forward and backward of one batch).

Run: ``python benchmarks/train_step.py`` (the default: I3D RGB at 64x224x224, batch 8, for a GPU);
``python benchmarks/train_step.py --model i3d_rgb_tiny --frames 8 --size 32 --device cpu`` takes
seconds. Prints one line starting with ``train-step``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

try:
    from motionprobe.models import create_model
except ModuleNotFoundError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from motionprobe.models import create_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import GPU_PEAK_BF16, channels_last, matmul_gflops  # noqa: E402  (the sibling)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def train_rate(
    name: str,
    device: str,
    batch: int = 8,
    frames: int | None = None,
    size: int | None = None,
    steps: int = 10,
    warmup: int = 2,
    bf16: bool | None = None,
) -> dict:
    """Measure training steps of ``name`` on random clips.

    Args:
        name: A registered model.
        device: Torch device.
        batch: Clips per step.
        frames: Clip length (default: the model's).
        size: Crop side (default: the model's).
        steps: Timed steps.
        warmup: Untimed steps first (allocator, kernels, autotuning).
        bf16: bf16 autocast and channels-last (default: on CUDA only).

    Returns:
        ``clips_per_s``, ``flops`` (forward and backward of one batch), ``seconds`` (timed total)
        and ``bf16``.
    """
    cuda = device.startswith("cuda")
    bf16 = cuda if bf16 is None else bf16
    torch.manual_seed(0)
    model = create_model(name, num_classes=400).to(device).train()
    inputs = [x.to(device) for x in model.example_inputs(batch, frames=frames, size=size)]
    if bf16:
        model = channels_last(model)
        inputs = [x.contiguous(memory_format=torch.channels_last_3d) for x in inputs]
    opt = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9)
    labels = torch.randint(0, 400, (batch,), device=device)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)

    def step() -> None:
        with autocast:
            loss = nn.functional.cross_entropy(model(*inputs).float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    for _ in range(max(warmup - 1, 0)):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = time.perf_counter() - start
    return dict(clips_per_s=batch * steps / seconds, flops=flops, seconds=seconds, bf16=bf16)


def main(argv: list[str] | None = None) -> None:
    """Print one ``train-step`` line: clips/s, achieved TFLOP/s and MFU."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="i3d_rgb")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    r = train_rate(args.model, args.device, args.batch, args.frames, args.size, args.steps)
    rate = r["flops"] * args.steps / r["seconds"]  # FLOP/s achieved
    if args.device.startswith("cuda"):
        card = torch.cuda.get_device_name(torch.device(args.device))
        peak = next((v for k, v in GPU_PEAK_BF16.items() if k in card), None)
        where = f"{card}, bf16, channels-last"
        mfu = f"MFU {rate / 1e12 / peak:.3f} of {peak} TFLOP/s" if peak else "MFU n/a (no peak)"
    else:
        baseline = matmul_gflops(args.device)
        where = f"CPU {torch.get_num_threads()} threads, fp32"
        mfu = f"MFU {rate / 1e9 / baseline:.3f} of fp32 matmul {baseline:.1f} GFLOP/s"
    print(
        f"train-step {args.model} {args.frames}x{args.size}x{args.size} batch {args.batch} "
        f"({where}): {r['clips_per_s']:.2f} clips/s, {rate / 1e12:.3f} TFLOP/s, {mfu}",
        flush=True,
    )


if __name__ == "__main__":
    main()
