"""Models: paper sizes, registry-wide behaviour, I3D structure, two-stream sampling, Captum."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from motionprobe.models import create_model, list_models
from motionprobe.models.layers import flow_stacks, fuse, same_padding
from motionprobe.models.two_stream import stack_starts

TINY = [n for n in list_models() if n.endswith("_tiny")]
FULL = [n for n in list_models() if not n.endswith("_tiny")]

#: Quo Vadis Table 1 (millions of parameters, 400 classes; C3D with Sports-1M's 487).
TABLE1 = {
    "convnet_lstm": (9.0, 400),
    "c3d": (79.0, 487),
    "two_stream": (12.0, 400),
    "fused_3d": (39.0, 400),
    "i3d_two_stream": (25.0, 400),
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_match_quo_vadis_table1():
    for name, (millions, classes) in TABLE1.items():
        got = n_params(create_model(name, num_classes=classes)) / 1e6
        print(f"{name:16s} {got:6.2f} M  (Table 1: {millions} M)")
        assert abs(got - millions) / millions < 0.03, name


def test_every_model_has_a_tiny_variant_and_presets():
    names = list_models()
    assert set(FULL) >= {
        "i3d_rgb",
        "i3d_flow",
        "i3d_two_stream",
        "c3d",
        "two_stream",
        "convnet_lstm",
        "fused_3d",
    }
    for name in FULL:
        assert f"{name}_tiny" in names
    for name in TINY:
        model = create_model(name, num_classes=3)
        assert set(model.presets) == set(model.inputs) and model.inputs


@pytest.mark.slow
@pytest.mark.parametrize("name", TINY)
def test_tiny_forward_backward_roundtrip_determinism(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=7)
    xs = [x.requires_grad_() for x in model.example_inputs(batch=2)]
    model.train()
    logits = model(*xs)
    assert logits.shape == (2, 7)
    logits.sum().backward()
    for x in xs:  # every input reaches the loss
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)

    model.eval()
    xs = [x.detach() for x in xs]
    with torch.no_grad():
        a, b = model(*xs), model(*xs)
    assert torch.equal(a, b)

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    clone = create_model(name, num_classes=7).eval()
    clone.load_state_dict(torch.load(buffer, weights_only=True))
    with torch.no_grad():
        assert torch.equal(clone(*xs), a)


@pytest.mark.parametrize("name", TINY)
def test_relus_are_modules_called_once_and_not_inplace(name):
    model = create_model(name, num_classes=3).eval()
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert relus and not any(r.inplace for r in relus)
    calls: dict[int, int] = {}
    hooks = [
        r.register_forward_hook(lambda m, i, o: calls.__setitem__(id(m), calls.get(id(m), 0) + 1))
        for r in relus
    ]
    with torch.no_grad():
        model(*model.example_inputs())
    for h in hooks:
        h.remove()
    # Each module is used once per forward, so DeepLift/LRP can rewrite each one separately.
    assert calls == {id(r): 1 for r in relus}


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in TINY if "lstm" not in n])
def test_deeplift_attributions_sum_to_the_logit_difference(name):
    from captum.attr import DeepLift

    torch.manual_seed(0)
    # Softmax fusion is a nonlinearity DeepLift has no rule for; the logit sum is linear.
    kwargs = {"fusion": "logits"} if "two_stream" in name else {}
    model = create_model(name, num_classes=4, **kwargs).eval()
    xs = model.example_inputs(batch=1)
    baselines = tuple(torch.zeros_like(x) for x in xs)
    attr, delta = DeepLift(model).attribute(xs, baselines, target=2, return_convergence_delta=True)
    with torch.no_grad():
        diff = (model(*xs) - model(*baselines))[0, 2]
    total = sum(a.sum() for a in attr)
    assert abs(delta.item()) < 1e-4 * max(1.0, abs(diff.item()))
    assert torch.allclose(total, diff, rtol=1e-4, atol=1e-5)
    assert all(a.abs().sum() > 0 for a in attr)


def test_integrated_gradients_on_the_lstm():
    from captum.attr import IntegratedGradients

    torch.manual_seed(0)
    model = create_model("convnet_lstm_tiny", num_classes=3).eval()
    (x,) = model.example_inputs(batch=1)
    attr, delta = IntegratedGradients(model).attribute(
        x, target=1, n_steps=64, return_convergence_delta=True
    )
    with torch.no_grad():
        diff = (model(x) - model(torch.zeros_like(x)))[0, 1]
    assert abs(diff) > 1e-3 and abs(delta.item()) < 0.05 * abs(diff.item())


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model"):
        create_model("c4d", num_classes=2)


# --- C3D -------------------------------------------------------------------------------------


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
    assert model.preset.crop == 112 and model.preset.short_side == 128


# --- I3D -------------------------------------------------------------------------------------


def test_same_padding_follows_tensorflow():
    # out = ceil(n / s); the odd pixel goes at the end, as in TensorFlow.
    assert same_padding((224,), (7,), (2,)) == [2, 3]
    assert same_padding((64, 224, 224), (7, 7, 7), (2, 2, 2)) == [2, 3, 2, 3, 2, 3]
    assert same_padding((5,), (3,), (1,)) == [1, 1]
    assert same_padding((4,), (1,), (1,)) == [0, 0]


def test_i3d_endpoints_and_temporal_strides():
    model = create_model("i3d_rgb_tiny", num_classes=5).eval()
    assert model.endpoints[0] == "Conv3d_1a_7x7" and model.endpoints[-1] == "Logits"
    assert model.endpoints[-2] == "Mixed_5c" and isinstance(model.Mixed_4f, nn.Module)
    names = ["Conv3d_1a_7x7", "MaxPool3d_3a_3x3", "MaxPool3d_4a_3x3", "Mixed_5c"]
    with torch.no_grad():
        feats = model.forward_features(torch.randn(1, 3, 16, 64, 64), names)
    # Stem halves T; the first two pools keep time; 4a and 5a halve it.
    assert feats["Conv3d_1a_7x7"].shape[2:] == (8, 32, 32)
    assert feats["MaxPool3d_3a_3x3"].shape[2:] == (8, 8, 8)
    assert feats["MaxPool3d_4a_3x3"].shape[2:] == (4, 4, 4)
    assert feats["Mixed_5c"].shape == (1, 128, 2, 2, 2)
    with pytest.raises(ValueError, match="unknown endpoints"):
        model.forward_features(torch.randn(1, 3, 8, 32, 32), ["Mixed_6a"])


@pytest.mark.parametrize("shape", [(8, 32, 32), (9, 33, 47), (23, 40, 64)])
def test_i3d_takes_any_t_ge_8_and_hw_ge_32(shape):
    model = create_model("i3d_flow_tiny", num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 2, *shape)).shape == (2, 3)


def test_i3d_depth_knob_truncates_the_network():
    model = create_model("i3d_rgb_tiny", num_classes=3, final_endpoint="Mixed_4b")
    assert model.endpoints[-2:] == ["Mixed_4b", "Logits"] and not hasattr(model, "Mixed_5c")
    assert model(torch.randn(1, 3, 8, 32, 32)).shape == (1, 3)


@pytest.mark.slow
def test_two_stream_fusion_rules():
    a, b = torch.randn(4, 6), torch.randn(4, 6)
    assert torch.equal(fuse(a, b, "logits"), a + b)
    mean = (a.softmax(1) + b.softmax(1)) / 2
    assert torch.allclose(fuse(a, b, "softmax").softmax(1), mean, atol=1e-6)
    torch.manual_seed(0)
    model = create_model("i3d_two_stream_tiny", num_classes=5).eval()
    rgb, flow = model.example_inputs(batch=2)
    with torch.no_grad():
        assert torch.allclose(model(rgb, flow), model.rgb(rgb) + model.flow(flow))


# --- 2-D two-stream, fused ---------------------------------------------------------------------


def test_flow_stacks_interleave_x_and_y():
    # flow[b, c, t] = 100 b + 10 t + c: each channel of a stack is identifiable.
    b, t = torch.arange(2), torch.arange(6)
    values = 100 * b[:, None, None] + 10 * t[None, None, :] + torch.arange(2)[None, :, None]
    flow = values[..., None, None].expand(2, 2, 6, 3, 3).float()
    stacks = flow_stacks(flow, torch.tensor([[0, 2], [3, 1]]), length=3)
    assert stacks.shape == (2, 2, 6, 3, 3)
    assert stacks[0, 1, :, 0, 0].tolist() == [20, 21, 30, 31, 40, 41]
    assert stacks[1, 0, :, 0, 0].tolist() == [130, 131, 140, 141, 150, 151]


def test_stack_starts_spread_in_eval_and_random_in_training():
    assert stack_starts(2, 34, 10, 25, random=False)[0].tolist() == list(range(25))
    assert stack_starts(1, 64, 10, 3, random=False).tolist() == [[0, 27, 54]]
    torch.manual_seed(0)
    starts = stack_starts(1000, 16, 4, 3, random=True)
    assert starts.shape == (1000, 1) and starts.min() == 0 and starts.max() == 12
    with pytest.raises(ValueError, match="cannot hold"):
        stack_starts(1, 5, 10, 3, random=False)


def test_two_stream_averages_streams_over_evaluation_positions():
    torch.manual_seed(0)
    model = create_model("two_stream_tiny", num_classes=4, fusion="logits").eval()
    rgb, flow = model.example_inputs(batch=1)
    starts = stack_starts(1, rgb.shape[2], model.stack, model.samples, random=False)
    spatial, temporal = [], []
    with torch.no_grad():
        for s in starts[0].tolist():
            spatial.append(model.spatial(rgb[:, :, s + model.stack // 2]))
            stack = flow[:, :, s : s + model.stack].transpose(1, 2).reshape(1, -1, 32, 32)
            temporal.append(model.temporal(stack - stack.mean((-2, -1), keepdim=True)))
        expected = torch.stack(spatial).mean(0) + torch.stack(temporal).mean(0)
        assert torch.allclose(model(rgb, flow), expected, atol=1e-5)


def test_fused_needs_enough_frames():
    model = create_model("fused_3d_tiny", num_classes=3).eval()
    rgb, flow = model.example_inputs(frames=11)  # 2 x 4 apart + a stack of 4 needs 12
    with pytest.raises(ValueError, match="need 12 frames"):
        model(rgb, flow)


def test_convnet_lstm_is_order_sensitive_and_has_readouts():
    torch.manual_seed(0)
    model = create_model("convnet_lstm_tiny", num_classes=3).eval()
    (x,) = model.example_inputs(batch=1)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x.flip(2)))
    with pytest.raises(ValueError, match="readout"):
        create_model("convnet_lstm_tiny", num_classes=3, readout="max")


@pytest.mark.slow
@pytest.mark.parametrize("name", FULL)
def test_full_size_forward_at_paper_input(name):
    model = create_model(name, num_classes=400).eval()
    with torch.inference_mode():
        assert model(*model.example_inputs()).shape == (1, 400)


@pytest.mark.parametrize("name", ["c3d_tiny", "i3d_two_stream_tiny", "convnet_lstm_tiny"])
def test_channels_last_changes_the_layout_not_the_outputs(name):
    """Every model, converted as training and probing convert it, gives the same logits."""
    from motionprobe.device import channels_last

    torch.manual_seed(0)
    model = create_model(name, num_classes=4).eval()
    inputs = model.example_inputs(batch=2)
    with torch.no_grad():
        before = model(*inputs)
        fast = channels_last(model)
        after = fast(*inputs)
    assert fast is model
    convs = [m for m in model.modules() if isinstance(m, nn.Conv3d)]
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last_3d) for m in convs)
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-5)


def test_for_inference_folds_plain_chains_only_and_keeps_the_logits():
    """C3D's logits survive folding; subclassed chains, hooked modules, shared ReLUs do not fold."""
    from motionprobe.device import for_inference

    torch.manual_seed(0)
    model = create_model("c3d_tiny", num_classes=4)
    for m in model.modules():  # non-trivial statistics, as after training
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.weight.data.uniform_()
    model.eval()
    x = model.example_inputs(batch=3)[0]
    fast = for_inference(model)
    assert fast is not model and not any(isinstance(m, nn.BatchNorm3d) for m in fast.modules())
    assert any(isinstance(m, nn.BatchNorm3d) for m in model.modules())  # the original is intact
    with torch.no_grad():
        assert torch.allclose(fast(x), model(x), rtol=1e-4, atol=1e-5)

    class Residual(nn.Sequential):  # its forward does not chain its children
        def forward(self, x):
            return x + self[2](self[1](self[0](x)))

    conv = nn.Conv2d(2, 2, 3, padding=1)
    assert for_inference(Residual(conv, nn.BatchNorm2d(2), nn.ReLU()).eval()).__class__ is Residual
    hooked = nn.Sequential(nn.Conv2d(2, 2, 3), nn.BatchNorm2d(2)).eval()
    hooked[1].register_forward_hook(lambda *a: None)
    assert for_inference(hooked) is hooked
    relu = nn.ReLU()
    shared = nn.Sequential(nn.Conv2d(2, 2, 3), nn.BatchNorm2d(2), relu, relu).eval()
    folded = for_inference(shared)
    assert isinstance(folded[1], nn.Identity) and not folded[2].inplace


@pytest.mark.parametrize("name", ["i3d_rgb_tiny", "i3d_two_stream_tiny", "fused_3d_tiny"])
def test_for_inference_folds_the_units_of_inception_models(name):
    """I3D's units fold their own BatchNorms (fold_batchnorm): same logits, none left; a hooked
    unit keeps its BatchNorm."""
    from motionprobe.device import for_inference
    from motionprobe.models.layers import Unit

    torch.manual_seed(0)
    model = create_model(name, num_classes=5)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d | nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.weight.data.uniform_()
    model.eval()
    x = model.example_inputs(batch=2)
    fast = for_inference(model)
    norms = (nn.BatchNorm2d, nn.BatchNorm3d)
    assert not any(isinstance(m, norms) for m in fast.modules())
    assert any(isinstance(m, norms) for m in model.modules())
    with torch.no_grad():
        assert torch.allclose(fast(*x), model(*x), rtol=1e-4, atol=1e-5)
    unit = next(m for m in model.modules() if isinstance(m, Unit) and m.bn is not None)
    handle = unit.bn.register_forward_hook(lambda *a: None)
    kept = sum(isinstance(m, norms) for m in for_inference(model).modules())
    handle.remove()
    assert kept == 1


_FAULTS = """
import resource, torch
from motionprobe.device import reuse_freed_memory
torch.set_num_threads(1)
nn = torch.nn
m = nn.Sequential(nn.Conv3d(3, 16, 3, padding=1), nn.BatchNorm3d(16), nn.ReLU())
x = torch.randn(8, 3, 16, 32, 32)
def faults():
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        m(x).sum().backward()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start
faults()
before = faults()
ok = reuse_freed_memory()
faults(), faults()  # the heap grows, then holds
print(ok, before, faults())
"""


def test_reuse_freed_memory_ends_the_page_faults_of_repeated_steps():
    """Training steps page-fault their activations in again under glibc's defaults (its adaptive
    threshold and trimming: thousands of faults every few steps); with freed memory kept, next to
    none. The bound leaves room for one late growth of the heap (2048 faults)."""

    def run(keep: str) -> list[str]:
        env = dict(os.environ, MOTIONPROBE_KEEP_MALLOC=keep)
        cmd = [sys.executable, "-c", _FAULTS]
        return subprocess.run(
            cmd, capture_output=True, text=True, env=env, check=True
        ).stdout.split()

    ok, before, after = run("0")
    if ok != "True":
        pytest.skip("the C library is not glibc")
    assert int(before) > 2000 and int(after) < int(before) / 4
    assert run("1")[0] == "False"  # the opt-out leaves glibc's defaults
