"""Devices, mixed precision and process groups, shared by training, evaluation and the probes."""

from __future__ import annotations

import copy
import ctypes
import functools
import os
import sys
from collections import Counter
from contextlib import nullcontext

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather(items: list) -> list:
    """Concatenate a list over ranks (every rank gets the whole)."""
    parts: list = [None] * world_size()
    torch.distributed.all_gather_object(parts, items)
    return [x for part in parts for x in part]


#: ``mallopt`` parameters of glibc (malloc.h): the size from which a block is its own mapping,
#: and the free space at the heap's top that is returned to the system.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


@functools.cache
def reuse_freed_memory() -> bool:
    """Keep freed activation buffers in the heap instead of returning them to the system.

    glibc serves a block over its threshold (128 KiB to 32 MiB, adapting) with a fresh mapping
    and unmaps it when freed, so every training step page-faults its activations in again: 10k
    faults a step for C3D-tiny. Raising both thresholds to 32 MiB and 256 MiB lets steps reuse
    the same memory (its step 1.15-1.2x faster on 2 CPU cores). Each of glibc's memory pools
    (one per thread that allocates, up to 8 per core) may then keep up to 256 MiB of freed
    memory. Called once per process by the command line and the studies (set
    ``MOTIONPROBE_KEEP_MALLOC=1`` to leave glibc's defaults); a no-op (False) where the C
    library is not glibc.

    Returns:
        Whether the thresholds were set.
    """
    if os.environ.get("MOTIONPROBE_KEEP_MALLOC") == "1":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
        )
    except (OSError, AttributeError):
        return False


#: ``madvise`` advice (Linux 5.14+) that faults a range in, writable, in one call.
_MADV_POPULATE_WRITE = 23


def populate(tensor: torch.Tensor) -> bool:
    """Map a fresh CPU tensor's pages in one call instead of a page fault per 4 KiB page as it is
    first written: filling a fresh shared-memory block with a 64-frame 224 clip (2350 pages)
    took 5.3 ms instead of 8.0 on 2 virtual cores. A no-op (False) where the system cannot (not
    Linux, a kernel before 5.14, an empty tensor); the tensor's values are unchanged either way.
    """
    size = tensor.untyped_storage().nbytes()
    madvise = _madvise()
    if size == 0 or tensor.device.type != "cpu" or madvise is None:
        return False
    start = tensor.untyped_storage().data_ptr()
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    aligned = start - start % page
    return madvise(aligned, size + start - aligned, _MADV_POPULATE_WRITE) == 0


@functools.cache
def _madvise():
    """The C library's ``madvise``, or None where there is none (or it lacks the advice)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return madvise


def channels_last(model: nn.Module) -> nn.Module:
    """``model`` with its 3-D convolution weights stored channels-last, in place.

    oneDNN and cuDNN run a convolution channels-last when its weight is (the input is converted
    once, and BatchNorm, ReLU and pooling keep that layout), which on 2 CPU cores made C3D's
    training step 1.47x faster than the default layout. Other
    modules, and the values of every output, are unchanged.

    >>> m = channels_last(nn.Conv3d(3, 4, 3))
    >>> m.weight.is_contiguous(memory_format=torch.channels_last_3d)
    True
    """
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            module.to(memory_format=torch.channels_last_3d)
    return model


def for_inference(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for inference, with BatchNorms folded into convolutions.

    Wherever a plain ``nn.Sequential`` runs a convolution, then a BatchNorm, then a ReLU, the
    copy folds the BatchNorm (in eval mode an affine map per channel) into the convolution's
    weights and bias and runs the ReLU in place on the convolution's own output: the same logits
    to float rounding without two passes over every activation (C3D-tiny's forward 2x faster on
    2 CPU cores). A module with a ``fold_batchnorm()`` method (returning whether it folded) does
    the same for itself, as I3D's units do. Subclasses of ``nn.Sequential`` (their ``forward``
    may not chain), modules with hooks and ReLUs used more than once are left as they are.
    ``model`` itself comes back when nothing folds or it cannot be copied.

    >>> net = nn.Sequential(nn.Conv3d(3, 4, 3), nn.BatchNorm3d(4), nn.ReLU()).eval()
    >>> x = torch.randn(2, 3, 4, 5, 5)
    >>> fast = for_inference(net)
    >>> type(fast[1]).__name__, fast[2].inplace, bool(torch.allclose(fast(x), net(x), atol=1e-5))
    ('Identity', True, True)
    """
    convs, norms = (nn.Conv2d, nn.Conv3d), (nn.BatchNorm2d, nn.BatchNorm3d)

    def hooked(m: nn.Module) -> bool:
        return any(
            getattr(m, name, None)
            for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
        )

    def foldable(seq: nn.Sequential, i: int) -> bool:
        conv, norm = seq[i - 1], seq[i]
        return (
            isinstance(conv, convs)
            and isinstance(norm, norms)
            and norm.track_running_stats
            and norm.num_features == conv.out_channels
            and not (hooked(conv) or hooked(norm))
        )

    def chains(m: nn.Module) -> list[nn.Sequential]:
        return [s for s in m.modules() if type(s) is nn.Sequential and not hooked(s)]

    def units(m: nn.Module) -> list[nn.Module]:
        return [
            u
            for u in m.modules()
            if callable(getattr(u, "fold_batchnorm", None))
            and not any(hooked(v) for v in u.modules())
        ]

    if not units(model) and not any(
        foldable(s, i) for s in chains(model) for i in range(1, len(s))
    ):
        return model
    try:
        fast = copy.deepcopy(model).eval()
    except Exception:  # noqa: BLE001  (a module that cannot be copied runs as it is)
        return model
    folded = [u.fold_batchnorm() for u in units(fast)]
    if not any(folded) and not any(foldable(s, i) for s in chains(fast) for i in range(1, len(s))):
        return model
    uses = Counter(id(m) for _, m in fast.named_modules(remove_duplicate=False))
    for seq in chains(fast):
        for i in range(1, len(seq)):
            if foldable(seq, i):
                seq[i - 1] = fuse_conv_bn_eval(seq[i - 1], seq[i])
                seq[i] = nn.Identity()
                after = seq[i + 1] if i + 1 < len(seq) else None
                if type(after) is nn.ReLU and uses[id(after)] == 1 and not hooked(after):
                    after.inplace = True  # its input is the fresh convolution output
    return channels_last(fast)


def autocast(device: str | torch.device, amp: str):
    if amp == "off":
        return nullcontext()
    if amp not in ("bf16", "fp16"):
        raise ValueError(f"amp must be off, bf16 or fp16, got {amp!r}")
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def setup_distributed(device: str) -> tuple[int, int, str]:
    """Join the process group when started by torchrun: ``(rank, world, device)``.

    Also a single process started by torchrun (``--nproc_per_node 1``, which sets
    ``TORCHELASTIC_RUN_ID``) joins its one-process group, so a 1-GPU run goes through NCCL and
    DistributedDataParallel as a multi-GPU run does.
    """
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world == 1 and "TORCHELASTIC_RUN_ID" not in os.environ:
        return 0, 1, device
    dist = torch.distributed
    cuda = device.startswith("cuda")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), world, device


def leave_distributed() -> None:
    """Leave the process group, if this process joined one, once every rank has arrived.

    A process that exits still in a Gloo group can abort while the interpreter shuts down
    (its worker threads outlive the objects they hold), so the command line calls this after a
    command succeeds. The barrier matters: without it a rank that left while its peer was still
    exchanging with it aborted in 2 of 7 two-process runs ("terminate called without an active
    exception"). Ranks other than 0 may wait there for rank 0's final tables (Gloo's timeout, 30
    minutes by default, bounds that). Not after a failure: the barrier would wait for ranks
    that are gone.
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def environment(device: str) -> dict:
    env = {
        "device": device,
        "threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        env["backend"] = dist.get_backend()
    return env
