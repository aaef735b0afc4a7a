"""Weights: the published ports' key layouts load strictly and give the ports' logits.

The ports' state dicts are built here from their key lists and shapes (the real files cannot be
downloaded), filled with random values, and run through an independent functional
re-implementation of each port's forward pass.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from motionprobe.models import create_model
from motionprobe.models.checkpoint import save_checkpoint

# Inception-I3D port: (name, in, out, kernel, stride) of each Unit3D, in forward order.
MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


def i3d_port_units(in_channels: int) -> list[tuple[str, int, int, int, int]]:
    units = [
        ("Conv3d_1a_7x7", in_channels, 64, 7, 2),
        ("Conv3d_2b_1x1", 64, 64, 1, 1),
        ("Conv3d_2c_3x3", 64, 192, 3, 1),
    ]
    for name, (cin, (c0, c1a, c1b, c2a, c2b, c3)) in MIXED.items():
        units += [
            (f"{name}.b0", cin, c0, 1, 1),
            (f"{name}.b1a", cin, c1a, 1, 1),
            (f"{name}.b1b", c1a, c1b, 3, 1),
            (f"{name}.b2a", cin, c2a, 1, 1),
            (f"{name}.b2b", c2a, c2b, 3, 1),
            (f"{name}.b3b", cin, c3, 1, 1),
        ]
    return units


def i3d_port_state(in_channels: int, classes: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, cin, cout, k, _ in i3d_port_units(in_channels):
        std = math.sqrt(2 / (cin * k**3))
        state[f"{name}.conv3d.weight"] = torch.randn(cout, cin, k, k, k, generator=g) * std
        state[f"{name}.bn.weight"] = 1 + 0.1 * torch.randn(cout, generator=g)
        state[f"{name}.bn.bias"] = 0.1 * torch.randn(cout, generator=g)
        state[f"{name}.bn.running_mean"] = 0.1 * torch.randn(cout, generator=g)
        state[f"{name}.bn.running_var"] = 1 + torch.rand(cout, generator=g)
        state[f"{name}.bn.num_batches_tracked"] = torch.tensor(1000)
    state["logits.conv3d.weight"] = torch.randn(classes, 1024, 1, 1, 1, generator=g) * 0.1
    state["logits.conv3d.bias"] = 0.1 * torch.randn(classes, generator=g)
    return state


def _same(x: torch.Tensor, k, s) -> torch.Tensor:
    # The port's compute_pad: max(k - s, 0) if n % s == 0 else max(k - n % s, 0).
    pads = []
    for n, kk, ss in zip(reversed(x.shape[2:]), reversed(k), reversed(s), strict=True):
        p = max(kk - ss, 0) if n % ss == 0 else max(kk - n % ss, 0)
        pads += [p // 2, p - p // 2]
    return F.pad(x, pads)


def i3d_port_forward(state: dict, x: torch.Tensor) -> torch.Tensor:
    """The port's InceptionI3d forward in eval mode, with its per-time logits averaged."""

    def unit(x, name, k, s):
        x = _same(x, (k,) * 3, (s,) * 3)
        x = F.conv3d(x, state[f"{name}.conv3d.weight"], stride=s)
        bn = [state[f"{name}.bn.{p}"] for p in ("running_mean", "running_var", "weight", "bias")]
        return F.relu(F.batch_norm(x, *bn, training=False, eps=1e-3))

    def pool(x, k, s):
        return F.max_pool3d(_same(x, k, s), k, s)

    x = unit(x, "Conv3d_1a_7x7", 7, 2)
    x = pool(x, (1, 3, 3), (1, 2, 2))
    x = unit(unit(x, "Conv3d_2b_1x1", 1, 1), "Conv3d_2c_3x3", 3, 1)
    x = pool(x, (1, 3, 3), (1, 2, 2))
    for name in MIXED:
        if name == "Mixed_4b":
            x = pool(x, (3, 3, 3), (2, 2, 2))
        if name == "Mixed_5b":
            x = pool(x, (2, 2, 2), (2, 2, 2))
        b0 = unit(x, f"{name}.b0", 1, 1)
        b1 = unit(unit(x, f"{name}.b1a", 1, 1), f"{name}.b1b", 3, 1)
        b2 = unit(unit(x, f"{name}.b2a", 1, 1), f"{name}.b2b", 3, 1)
        b3 = unit(pool(x, (3, 3, 3), (1, 1, 1)), f"{name}.b3b", 1, 1)
        x = torch.cat([b0, b1, b2, b3], 1)
    x = F.avg_pool3d(x, (2, 7, 7), stride=1)
    logits = F.conv3d(x, state["logits.conv3d.weight"], state["logits.conv3d.bias"])
    return logits.squeeze(3).squeeze(3).mean(2)  # port: (B, classes, T'); we average T'


C3D_LAYERS = [
    ("conv1", 3, 64),
    ("conv2", 64, 128),
    ("conv3a", 128, 256),
    ("conv3b", 256, 256),
    ("conv4a", 256, 512),
    ("conv4b", 512, 512),
    ("conv5a", 512, 512),
    ("conv5b", 512, 512),
]


def c3d_port_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, cin, cout in C3D_LAYERS:
        state[f"{name}.weight"] = (
            torch.randn(cout, cin, 3, 3, 3, generator=g) * (2 / cin / 27) ** 0.5
        )
        state[f"{name}.bias"] = 0.01 * torch.randn(cout, generator=g)
    for name, cin, cout in (("fc6", 8192, 4096), ("fc7", 4096, 4096), ("fc8", 4096, 487)):
        state[f"{name}.weight"] = torch.randn(cout, cin, generator=g) * (2 / cin) ** 0.5
        state[f"{name}.bias"] = 0.01 * torch.randn(cout, generator=g)
    return state


def c3d_port_forward(state: dict, x: torch.Tensor) -> torch.Tensor:
    """The C3D port's forward in eval mode, before its final softmax."""

    def conv(x, name):
        return F.relu(F.conv3d(x, state[f"{name}.weight"], state[f"{name}.bias"], padding=1))

    x = F.max_pool3d(conv(x, "conv1"), (1, 2, 2), (1, 2, 2))
    x = F.max_pool3d(conv(x, "conv2"), 2, 2)
    x = F.max_pool3d(conv(conv(x, "conv3a"), "conv3b"), 2, 2)
    x = F.max_pool3d(conv(conv(x, "conv4a"), "conv4b"), 2, 2)
    x = F.max_pool3d(conv(conv(x, "conv5a"), "conv5b"), 2, 2, padding=(0, 1, 1))
    x = F.relu(F.linear(x.reshape(-1, 8192), state["fc6.weight"], state["fc6.bias"]))
    x = F.relu(F.linear(x, state["fc7.weight"], state["fc7.bias"]))
    return F.linear(x, state["fc8.weight"], state["fc8.bias"])


@pytest.fixture(scope="module")
def port_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ports")
    files = {}
    for name, state in (
        ("rgb_imagenet.pt", i3d_port_state(3, 400, seed=1)),
        ("flow_imagenet.pt", i3d_port_state(2, 400, seed=2)),
        ("c3d.pickle", c3d_port_state()),
    ):
        torch.save(state, root / name)
        files[name] = root / name
    return files


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "file", "channels"),
    [
        ("i3d_rgb", "rgb_imagenet.pt", 3),
        ("i3d_flow", "flow_imagenet.pt", 2),
    ],
)
def test_i3d_port_loads_strictly_and_gives_the_ports_logits(port_files, model, file, channels):
    net = create_model(model, num_classes=400, weights=port_files[file]).eval()
    assert net.weights_report["layout"] == "i3d_port" and net.weights_report["replaced"] == []
    state = torch.load(port_files[file], weights_only=True)
    # 16 x 200 x 200 leaves 7 x 7 for the port's fixed 2x7x7 average pool, and 1 time step.
    x = torch.randn(1, channels, 16, 200, 200, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        ours, port = net(x), i3d_port_forward(state, x)
    assert ours.shape == (1, 400)
    assert port.std() > 0.1  # not a degenerate near-constant comparison
    torch.testing.assert_close(ours, port, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_c3d_port_loads_strictly_and_gives_the_ports_logits(port_files):
    net = create_model("c3d", num_classes=487, weights=port_files["c3d.pickle"]).eval()
    assert net.weights_report["layout"] == "c3d_port"
    assert net.preset.name == "c3d_port" and net.preset.mean == (0.0, 0.0, 0.0)
    state = torch.load(port_files["c3d.pickle"], weights_only=True)
    x = torch.randn(1, 3, 16, 112, 112, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        ours, port = net(x), c3d_port_forward(state, x)
    assert port.std() > 0.1
    torch.testing.assert_close(ours, port, rtol=1e-4, atol=1e-4)
    # The port ends in a softmax; our logits give the same probabilities.
    torch.testing.assert_close(ours.softmax(1), port.softmax(1))


def test_new_class_count_replaces_only_the_classifier(port_files):
    net = create_model("i3d_rgb", num_classes=10, weights=port_files["rgb_imagenet.pt"])
    assert net.weights_report["replaced"] == ["Logits.conv.bias", "Logits.conv.weight"]
    assert net.Logits.conv.weight.shape == (10, 1024, 1, 1, 1)
    state = torch.load(port_files["rgb_imagenet.pt"], weights_only=True)
    assert torch.equal(net.Mixed_4f.b1b.conv.weight, state["Mixed_4f.b1b.conv3d.weight"])
    assert torch.equal(net.Mixed_5c.b0.bn.running_var, state["Mixed_5c.b0.bn.running_var"])


def test_two_stream_i3d_loads_one_file_per_stream(port_files):
    files = {"rgb": port_files["rgb_imagenet.pt"], "flow": port_files["flow_imagenet.pt"]}
    net = create_model("i3d_two_stream", num_classes=400, weights=files)
    assert {k: v["layout"] for k, v in net.weights_report.items()} == {
        "rgb": "i3d_port",
        "flow": "i3d_port",
    }
    state = torch.load(files["flow"], weights_only=True)
    assert torch.equal(net.flow.Conv3d_1a_7x7.conv.weight, state["Conv3d_1a_7x7.conv3d.weight"])


def test_wrong_layout_lists_missing_unexpected_and_mismatched_keys(port_files, tmp_path):
    state = torch.load(port_files["rgb_imagenet.pt"], weights_only=True)
    del state["Mixed_3c.b2b.conv3d.weight"]
    state["Mixed_9z.b0.conv3d.weight"] = torch.zeros(1)
    state["Conv3d_2b_1x1.bn.weight"] = torch.zeros(65)
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(ValueError) as err:
        create_model("i3d_rgb", num_classes=400, weights=bad)
    message = str(err.value)
    assert str(bad) in message and "i3d_port" in message
    assert "missing (1): Mixed_3c.b2b.conv.weight" in message
    assert "unexpected (1): Mixed_9z.b0.conv.weight" in message
    assert "Conv3d_2b_1x1.bn.weight: file (65,), model (64,)" in message
    # RGB weights into the flow network: the stem's input channels differ.
    with pytest.raises(ValueError, match=r"Conv3d_1a_7x7.conv.weight: file \(64, 3"):
        create_model("i3d_flow", num_classes=400, weights=port_files["rgb_imagenet.pt"])


def test_not_a_weights_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="notes.pt: not a weights file"):
        create_model("c3d_tiny", num_classes=3, weights=bad)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        create_model("c3d_tiny", num_classes=3, weights=tmp_path / "missing.pt")


@pytest.mark.parametrize("name", ["i3d_two_stream_tiny", "convnet_lstm_tiny", "fused_3d_tiny"])
def test_project_checkpoint_round_trip_and_new_classes(name, tmp_path):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5).eval()
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, model, [f"c{i}" for i in range(5)], config={})
    xs = model.example_inputs(batch=2)
    same = create_model(name, num_classes=5, weights=path).eval()
    assert same.weights_report["layout"] == "checkpoint"
    with torch.no_grad():
        assert torch.equal(same(*xs), model(*xs))
    other = create_model(name, num_classes=8, weights=path)
    assert other.weights_report["replaced"] and all(
        k.startswith(other.head) for k in other.weights_report["replaced"]
    )
