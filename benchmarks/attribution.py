"""Cost of each attribution method per clip on I3D, and Integrated Gradients' internal batching.

For the narrow I3D (``i3d_rgb_tiny``, 4 clips of 16x32x32) and the full-size RGB I3D
(``i3d_rgb``, 400 classes, 1 clip of 16x112x112 by default, ``--full-size 64 224`` for the
paper's input) on CPU (or ``--device cuda``), every method of
:func:`motionprobe.attribution.attribute` is timed with the settings printed in the header, and
Integrated Gradients with the package's internal batching (``memory_mb`` budget, ``steps`` rows
split into passes of ``rows`` each) is compared with a naive loop that runs one interpolation
step at a time (the same Gauss-Legendre steps and weights, so the maps must agree): the ratio of
times and of peak memory, ours over naive.

Measurement. Each run happens in its own spawned process, so peaks never mix. The process builds
the model and input and runs one forward pass (warm-up), then resets the kernel's peak-RSS mark
(``/proc/self/clear_refs``, Linux) and reports ``VmHWM - VmRSS`` after the call: the high-water
increment of resident memory during the attribution alone. ``MALLOC_MMAP_THRESHOLD_`` is fixed at
128 KiB in the children so that glibc returns every large tensor to the kernel when freed (its
default dynamic threshold would keep freed blocks resident and hide later peaks). On a GPU the
peak is ``torch.cuda.max_memory_allocated`` over the same call. Times are one run each (these
methods take seconds to minutes); on a shared CPU they are noisy, the ratios less so. The
maps of the two IG runs differ only by float32 rounding: oneDNN picks other kernels for other
batch sizes (on the untrained full-size I3D a single gradient in float32 is itself ~2e-2 of its
maximum away from float64, so a difference of ~1e-3 of the maximum is agreement).

Run: ``python benchmarks/attribution.py`` (about 5 minutes on 2 CPU cores; ``--models narrow``
for under a minute, ``--methods integrated_gradients saliency`` for fewer).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import torch

try:
    from motionprobe.attribution import METHODS, attribute, row_bytes
    from motionprobe.models import create_model
except ModuleNotFoundError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from motionprobe.attribution import METHODS, attribute, row_bytes
    from motionprobe.models import create_model

#: Options per method (both models): cheap enough for a CPU, representative of a real run.
OPTIONS = {
    "occlusion": {"window": 4, "stride": 2},
    "frame_shapley": {"samples": 2},
    "smoothgrad": {"nt_samples": 4},
}


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def naive_integrated_gradients(
    model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, steps: int
) -> torch.Tensor:
    """IG with zero baseline, one interpolation step (one forward/backward) at a time.

    Uses Captum's Gauss-Legendre alphas and weights, so it computes exactly what
    ``IntegratedGradients`` computes; only the batching differs.
    """
    from captum.attr._utils.approximation_methods import approximation_parameters

    sizes_fn, alphas_fn = approximation_parameters("gausslegendre")
    total = torch.zeros_like(x)
    for weight, alpha in zip(sizes_fn(steps), alphas_fn(steps), strict=True):
        xa = (alpha * x).requires_grad_()
        score = model(xa).gather(1, target[:, None]).sum()
        (grad,) = torch.autograd.grad(score, xa)
        total += weight * grad
    return x * total


def measure(task: dict, queue) -> None:
    """Child process: one method on one model; puts a result dict on ``queue``."""
    torch.set_num_threads(task["threads"])
    device = task["device"]
    torch.manual_seed(0)
    model = create_model(task["model"], num_classes=task["classes"]).to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(1)
    t, s = task["frames"], task["size"]
    x = torch.randn(task["clips"], 3, t, s, s, generator=gen).to(device)
    target = torch.arange(task["clips"], device=device) % task["classes"]
    with torch.no_grad():
        model(x[:1])  # warm-up: kernels for these shapes, lazy initialisation
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
    else:
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
        base = _status_mb("VmRSS")
    start = time.perf_counter()
    if task["method"] == "naive_ig":
        attr = naive_integrated_gradients(model, x, target, task["steps"])
    else:
        opts = dict(OPTIONS.get(task["method"], {}), memory_mb=task["memory_mb"])
        if task["method"] == "integrated_gradients":
            opts["steps"] = task["steps"]
        attr = attribute(model, x, target, task["method"], **opts)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda else _status_mb("VmHWM")) - base
    # A numpy copy: a torch tensor would travel as a shared-memory handle the exiting child closes.
    result = {"seconds": seconds, "peak": peak, "attr": attr.detach().cpu().numpy()}
    if task["method"] == "integrated_gradients":
        row = row_bytes(model, x) / 2**20
        result.update(row=row, rows=max(1, int(task["memory_mb"] // row)))
    queue.put(result)


def run(task: dict) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=measure, args=(task, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes = ["narrow", "full"]
    parser.add_argument("--models", nargs="+", default=sizes, choices=sizes)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--full-size", nargs=2, type=int, default=[16, 112], metavar=("T", "S"))
    parser.add_argument("--steps", type=int, default=16, help="Integrated Gradients steps")
    parser.add_argument("--memory-mb", type=float, default=2048.0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    # Children inherit it at start-up: large tensors are mmapped and given back when freed.
    os.environ["MALLOC_MMAP_THRESHOLD_"] = str(128 * 1024)

    models = {
        "narrow": dict(model="i3d_rgb_tiny", classes=10, frames=16, size=32, clips=4),
        "full": dict(model="i3d_rgb", classes=400, frames=args.full_size[0],
                     size=args.full_size[1], clips=1),
    }  # fmt: skip
    peak_kind = "peak CUDA memory" if args.device.startswith("cuda") else "peak RSS increment"
    print(
        f"device {args.device}, {args.threads} threads; IG {args.steps} steps, memory budget "
        f"{args.memory_mb:.0f} MiB; occlusion window 4 stride 2 frames; Shapley 2 permutations; "
        f"SmoothGrad 4 samples; Grad-CAM at Mixed_5c; {peak_kind} per call",
        flush=True,
    )
    for key in args.models:
        spec = models[key]
        shape = f"{spec['frames']}x{spec['size']}x{spec['size']}"
        common = dict(spec, device=args.device, threads=args.threads, steps=args.steps,
                      memory_mb=args.memory_mb)  # fmt: skip
        results = {}
        for method in args.methods:
            r = run(dict(common, method=method))
            results[method] = r
            print(
                f"{spec['model']:12s} {shape:10s} {spec['clips']} clip(s)  {method:20s} "
                f"{r['seconds'] / spec['clips']:8.3f} s/clip  {r['peak']:7.0f} MiB",
                flush=True,
            )
        if "integrated_gradients" not in results:
            continue
        ours = results["integrated_gradients"]
        naive = run(dict(common, method="naive_ig"))
        diff = float(abs(ours["attr"] - naive["attr"]).max())
        scale = float(abs(naive["attr"]).max())
        print(
            f"{spec['model']:12s} {shape:10s} IG {args.steps} steps: internal batching "
            f"({ours['rows']} rows/pass from a {ours['row']:.0f} MiB row estimate) "
            f"{ours['seconds'] / spec['clips']:.3f} s/clip, {ours['peak']:.0f} MiB; naive one step "
            f"at a time {naive['seconds'] / spec['clips']:.3f} s/clip, {naive['peak']:.0f} MiB; "
            f"ratio ours/naive: time {ours['seconds'] / naive['seconds']:.2f}, memory "
            f"{ours['peak'] / max(naive['peak'], 1e-9):.2f}; max |diff| {diff / scale:.1e} of max",
            flush=True,
        )


if __name__ == "__main__":
    main()
