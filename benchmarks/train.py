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

Run: ``python benchmarks/train.py`` (about 4 minutes on 2 CPU cores).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

try:
    from motionprobe.data.loaders import make_loader
    from motionprobe.data.synthetic import synthesize
    from motionprobe.models import create_model, list_models
    from motionprobe.models.adapter import Target, make_target
except ModuleNotFoundError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from motionprobe.data.loaders import make_loader
    from motionprobe.data.synthetic import synthesize
    from motionprobe.models import create_model, list_models
    from motionprobe.models.adapter import Target, make_target

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


def main() -> None:
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
