"""Temporal interventions: pure functions ``(B, C, T, H, W) -> (B, C, T, H, W)``.

Each keeps shape, dtype and device, takes its parameters explicitly and, when random, an optional
``torch.Generator`` (same generator state, same output). They act on pixel-unit clips and commute
with per-channel normalisation, so applying them before or after the model's preset is the same.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from motionprobe.types import TIME_DIM


def clean(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The unmodified input (the reference every drop is measured against)."""
    return x


def freeze(
    x: torch.Tensor, index: int | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Replicate one frame over the whole clip (Huang et al. 2018's naive baseline).

    Args:
        x: ``(B, C, T, H, W)``.
        index: Frame to keep; ``None`` keeps the middle frame ``T // 2`` (their choice). Negative
            indices count from the end.

    >>> x = torch.arange(4.0).view(1, 1, 4, 1, 1)
    >>> freeze(x).flatten().tolist()
    [2.0, 2.0, 2.0, 2.0]
    """
    t = x.shape[TIME_DIM]
    i = t // 2 if index is None else int(index)
    if not -t <= i < t:
        raise IndexError(f"freeze index {i} out of range for a clip of {t} frames")
    return x.narrow(TIME_DIM, i % t, 1).expand_as(x).contiguous()


def shuffle(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Permute the frames of each clip with its own uniformly random permutation.

    >>> x = torch.arange(5.0).view(1, 1, 5, 1, 1)
    >>> sorted(shuffle(x, torch.Generator().manual_seed(0)).flatten().tolist())
    [0.0, 1.0, 2.0, 3.0, 4.0]
    """
    b, t = x.shape[0], x.shape[TIME_DIM]
    perm = torch.argsort(torch.rand(b, t, generator=generator), dim=1).to(x.device)
    index = perm.view(b, 1, t, 1, 1).expand_as(x)
    return torch.gather(x, TIME_DIM, index)


def reverse(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Play each clip backwards.

    >>> reverse(torch.arange(3.0).view(1, 1, 3, 1, 1)).flatten().tolist()
    [2.0, 1.0, 0.0]
    """
    return x.flip(TIME_DIM)


INTERVENTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "clean": clean,
    "freeze": freeze,
    "shuffle": shuffle,
    "reverse": reverse,
}

#: Interventions whose output depends on the generator (run once per seed).
RANDOM = {"shuffle"}


def parse(spec: str) -> tuple[str, Callable[..., torch.Tensor], dict]:
    """Parse ``name`` or ``name:key=value:key=value`` (values int, float or str; nothing evaluated).

    Returns:
        The label used in result tables (the spec itself), the function and its parameters.

    >>> parse("freeze:index=0")[0::2]
    ('freeze:index=0', {'index': 0})
    """
    name, *pairs = spec.strip().split(":")
    if name not in INTERVENTIONS:
        raise ValueError(f"unknown intervention {name!r}; choose from {sorted(INTERVENTIONS)}")
    params: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ValueError(f"intervention parameter {pair!r} in {spec!r} is not key=value")
        for cast in (int, float):
            try:
                params[key] = cast(raw)
                break
            except ValueError:
                continue
        else:
            params[key] = raw
    return spec.strip(), INTERVENTIONS[name], params
