"""Interventions: shapes kept, known answers, permutation properties, seeded determinism."""

from __future__ import annotations

import pytest
import torch

from motionprobe.probes.interventions import INTERVENTIONS, freeze, parse, reverse, shuffle


def clip(b=3, t=8):
    # Frame t of every clip holds the value t (+100 per clip) so indices can be read back.
    values = torch.arange(t).float().view(1, 1, t, 1, 1) + 100 * torch.arange(b).view(b, 1, 1, 1, 1)
    return values.expand(b, 3, t, 4, 5).contiguous()


@pytest.mark.parametrize("name", sorted(INTERVENTIONS))
def test_shape_dtype_kept(name):
    x = clip()
    y = INTERVENTIONS[name](x, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype


def test_freeze_middle_and_index():
    x = clip(t=8)
    assert (freeze(x)[:, :, :, 0, 0] % 100 == 4).all()
    assert (freeze(x, index=0)[:, :, :, 0, 0] % 100 == 0).all()
    assert (freeze(x, index=-1)[:, :, :, 0, 0] % 100 == 7).all()
    with pytest.raises(IndexError):
        freeze(x, index=8)


def test_shuffle_is_a_permutation_per_clip_and_seeded():
    x = clip(b=4, t=16)
    y = shuffle(x, torch.Generator().manual_seed(1))
    frames = y[:, 0, :, 0, 0]
    assert torch.equal(frames.sort(dim=1).values, x[:, 0, :, 0, 0])
    assert not torch.equal(frames, x[:, 0, :, 0, 0])
    assert torch.equal(y, shuffle(x, torch.Generator().manual_seed(1)))
    assert not torch.equal(y, shuffle(x, torch.Generator().manual_seed(2)))
    # Each clip draws its own permutation.
    assert not torch.equal(frames[0] % 100, frames[1] % 100)


def test_reverse_known_answer_and_involution():
    x = clip(t=5)
    assert reverse(x)[0, 0, :, 0, 0].tolist() == [4.0, 3.0, 2.0, 1.0, 0.0]
    assert torch.equal(reverse(reverse(x)), x)


def test_parse_params_without_eval():
    assert parse("freeze:index=3")[2] == {"index": 3}
    assert parse("shuffle")[0] == "shuffle"
    with pytest.raises(ValueError):
        parse("__import__('os')")
    with pytest.raises(ValueError):
        parse("freeze:index")
