"""Models: registry, logits shape, the paper's C3D structure, Captum-friendly activations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from motionprobe.models import create_model, list_models


@pytest.mark.parametrize("name", [n for n in list_models() if n.endswith("_tiny")])
def test_tiny_models_return_logits(name):
    model = create_model(name, num_classes=7).eval()
    x = torch.randn(2, 3, model.frames, model.preset.crop, model.preset.crop)
    with torch.inference_mode():
        assert model(x).shape == (2, 7)


def test_every_model_has_a_tiny_variant_and_a_preset():
    names = list_models()
    assert "c3d" in names and "c3d_tiny" in names
    for name in names:
        assert name.endswith("_tiny") or f"{name}_tiny" in names


def test_c3d_has_the_papers_structure():
    model = create_model("c3d", num_classes=487)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv3d)]
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool3d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert len(pools) == 5 and pools[0].kernel_size == (1, 2, 2)
    assert [(m.in_features, m.out_features) for m in linears] == [
        (8192, 4096),
        (4096, 4096),
        (4096, 487),
    ]
    # The released Sports-1M model has about 78 M parameters.
    assert 77e6 < sum(p.numel() for p in model.parameters()) < 80e6
    assert model.preset.crop == 112 and model.preset.short_side == 128


def test_relus_are_modules_used_once_and_not_inplace():
    model = create_model("c3d_tiny", num_classes=3)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 10 and len({id(r) for r in relus}) == 10
    assert not any(r.inplace for r in relus)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model"):
        create_model("c4d", num_classes=2)


@pytest.mark.slow
def test_c3d_full_size_forward():
    model = create_model("c3d", num_classes=400).eval()
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 16, 112, 112)).shape == (1, 400)
