"""Motion-invariant frame selection (Huang et al., CVPR 2018): keep the best of several candidates.

A selected intervention runs the model on ``n`` candidate clips per clip (the frozen clip of each of
``n`` frames, or the generated clip from each of ``n`` phases) and keeps one candidate's logits:

* ``max``: the candidate whose highest class probability is largest. It uses no label, so it is
  an estimate a deployed model could make.
* ``oracle``: the candidate with the highest probability of the true label. It reads the label,
  so it is an upper bound, never an estimate; reports name it as such.
"""

from __future__ import annotations

import numpy as np
import torch

RULES = ("max", "oracle")


def candidate_values(count: int, n: int) -> list[int]:
    """``n`` evenly spread values out of ``0 .. count - 1`` (all of them when ``n >= count``).

    >>> candidate_values(16, 4)
    [0, 5, 10, 15]
    """
    if count < 1 or n < 1:
        raise ValueError(f"need count >= 1 and n >= 1, got {count}, {n}")
    return sorted({int(v) for v in np.linspace(0, count - 1, min(n, count)).round()})


def select(
    logits: torch.Tensor, rule: str = "max", labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep one candidate per clip.

    Args:
        logits: ``(n, B, K)``: the logits of ``n`` candidates of each of ``B`` clips.
        rule: ``max`` (no label) or ``oracle`` (needs ``labels``).
        labels: Long ``(B,)`` true classes, for ``oracle``.

    Returns:
        The kept logits ``(B, K)`` and the kept candidate of each clip, long ``(B,)``.

    >>> logits = torch.tensor([[[0.0, 3.0]], [[1.0, 0.0]]])  # 2 candidates, 1 clip, 2 classes
    >>> select(logits)[1].tolist(), select(logits, "oracle", torch.tensor([0]))[1].tolist()
    ([0], [1])
    """
    if rule not in RULES:
        raise ValueError(f"selection rule must be one of {RULES}, got {rule!r}")
    probs = logits.float().softmax(-1)
    if rule == "max":
        score = probs.max(-1).values
    else:
        if labels is None:
            raise ValueError("the oracle selection needs the labels")
        score = probs.gather(-1, labels.view(1, -1, 1).expand(len(logits), -1, 1)).squeeze(-1)
    chosen = score.argmax(0)  # (B,)
    return logits[chosen, torch.arange(logits.shape[1])], chosen
