"""The one optimisation loop: the classifier trainer and the temporal generator both step here.

A caller gives the loader, a ``loss_of(batch, i, boundary)`` that runs the forward pass and
returns the loss to minimise (``None`` when the batch has nothing usable), and the optimiser.
The loop owns what must be the same for every model: the bad items of each batch are kept, a
non-finite loss stops the run on every rank with the place it happened, gradients are
accumulated over ``accumulate`` batches (scaled by a ``GradScaler`` when one is given), and each
optimiser step is followed by ``after_step`` (schedules, logging, mid-epoch checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from tqdm import tqdm

from motionprobe.device import world_size
from motionprobe.io import hide_bars


def all_finite(loss: torch.Tensor) -> bool:
    """Whether ``loss`` is finite on every rank (one all-reduce under a process group)."""
    finite = bool(torch.isfinite(loss).all())
    if world_size() > 1:
        flag = torch.tensor([0.0 if finite else 1.0], device=loss.device)
        torch.distributed.all_reduce(flag)
        finite = flag.item() == 0
    return finite


def optimise_epoch(
    loader: Iterable[dict],
    loss_of: Callable[[dict, int, bool], torch.Tensor | None],
    opt: torch.optim.Optimizer,
    *,
    desc: str,
    where: Callable[[int], str],
    bad: list,
    progress: bool = True,
    start: int = 0,
    total: int | None = None,
    accumulate: int = 1,
    scaler: torch.amp.GradScaler | None = None,
    after_step: Callable[[int, tqdm], None] | None = None,
) -> None:
    """One pass of optimiser steps over ``loader``.

    Args:
        loader: Collated batches (dicts with a ``bad`` list); a resumed epoch's loader yields
            only the batches not done yet.
        loss_of: ``(batch, i, boundary) -> loss`` (a scalar tensor with its graph) or ``None``;
            ``i`` counts batches from ``start``, ``boundary`` is whether an optimiser step
            follows this batch (for ``no_sync`` under DDP).
        opt: The optimiser.
        desc: Progress bar label.
        where: ``i -> text`` naming the batch and what to do, for the non-finite-loss error.
        bad: Collects every batch's bad items (extended in place).
        progress: Show the progress bar.
        start: Batches of the epoch already done (a resumed run).
        total: Batches in the whole epoch (default: ``len(loader)``).
        accumulate: Batches per optimiser step.
        scaler: Loss scaler (fp16); ``None``: plain ``backward`` and ``step``.
        after_step: Called after each optimiser step with the batch index and the bar.

    Raises:
        FloatingPointError: A non-finite loss (on any rank).
    """
    total = len(loader) if total is None else total
    bar = tqdm(loader, desc=desc, initial=start, total=total, disable=hide_bars(progress))
    for i, batch in enumerate(bar, start=start):
        bad += batch["bad"]
        boundary = (i + 1) % accumulate == 0 or i + 1 == total
        loss = loss_of(batch, i, boundary)
        if loss is not None:
            if not all_finite(loss):
                raise FloatingPointError(f"non-finite loss at {where(i)}")
            scaled = loss / accumulate if accumulate > 1 else loss
            (scaler.scale(scaled) if scaler is not None else scaled).backward()
        if not boundary:
            continue
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)
        if after_step is not None:
            after_step(i, bar)
    bar.close()


__all__ = ["all_finite", "optimise_epoch"]
