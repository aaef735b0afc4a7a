"""Static and dynamic units per layer: how much of each layer encodes appearance, how much motion.

After Kowal et al., "A Deeper Dive Into What Deep Spatiotemporal Networks Encode" (CVPR 2022).
:func:`static_dynamic_report` renders a ``static_dynamic_bias`` folder (its ``layers.csv``, from
:func:`motionprobe.probes.bias.run_bias`) from its tables alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from motionprobe import plots
from motionprobe.io import record_study, write_csv, write_text
from motionprobe.models.sources import is_spec
from motionprobe.probes.bias import run_bias
from motionprobe.report import find_setting, frame_table, pct, read_config
from motionprobe.runs import read_run
from motionprobe.studies.base import Study, register_study
from motionprobe.studies.context import StudyContext, named_checkpoints
from motionprobe.types import absolute_data


def _lean(static: float, dynamic: float, margin: float = 0.02) -> str:
    """``static``, ``dynamic`` or ``balanced``: which share of dimensions is larger."""
    if pd.isna(static) or pd.isna(dynamic) or abs(static - dynamic) < margin:
        return "balanced"
    return "static" if static > dynamic else "dynamic"


def _network_paragraph(name: str, g: pd.DataFrame) -> str:
    """One finding per network (or stream): its last layer, then how depth changes it."""
    g = g.sort_values("depth")
    first, last = g.iloc[0], g.iloc[-1]
    lean = _lean(last["static"], last["dynamic"])
    units = int(last["channels"])
    verdict = "is balanced" if lean == "balanced" else f"leans {lean}"
    text = (
        f"**{name}**: its last analysed layer ({last['layer']}) has {pct(last['static'])} static "
        f"and {pct(last['dynamic'])} dynamic dimensions (residual {pct(last['residual'])}; "
        f"scores {last['score_static']:.2f} static, {last['score_dynamic']:.2f} dynamic); of its "
        f"{units} units {int(last['units_static'])} are static, {int(last['units_dynamic'])} "
        f"dynamic, {int(last['units_joint'])} joint and {int(last['units_neither'])} neither. "
        f"It {verdict} there by its dimensions"
    )
    by_units = _lean(last["units_static"] / units, last["units_dynamic"] / units)
    if by_units == lean:
        text += " and by its units."
    else:
        text += "; by its units it " + (
            "is balanced." if by_units == "balanced" else f"leans {by_units}."
        )
    if len(g) > 1:
        change = (last["static"] - last["dynamic"]) - (first["static"] - first["dynamic"])
        if abs(change) < 0.02:
            trend = "has about the same balance of static and dynamic as its first"
        else:
            trend = f"is {'more static' if change > 0 else 'more dynamic'} than its first"
        leans = [_lean(r.static, r.dynamic) for r in g.itertuples()]
        counts = ", ".join(f"{leans.count(k)} {k}" for k in ("static", "dynamic", "balanced"))
        text += (
            f" Its last layer {trend} ({first['layer']}: {pct(first['static'])} static, "
            f"{pct(first['dynamic'])} dynamic); over its {len(g)} layers the lean is {counts}."
        )
    return text


def network_names(layers: pd.DataFrame) -> pd.Series:
    """Per row of ``layers``: its network, ``"{model} ({stream} stream)"`` for a stream of a
    two-stream model (a non-empty ``stream``), else the model."""
    model = layers["model"].astype(str)
    return model.where(layers["stream"] == "", model + " (" + layers["stream"] + " stream)")


def network_leans(layers: pd.DataFrame) -> dict[str, str]:
    """``{network: static, dynamic or balanced}``: which share of dimensions is larger at each
    network's (or stream's) deepest layer, networks in the table's order."""
    leans = {}
    for name, g in layers.groupby(network_names(layers), sort=False):
        last = g.sort_values("depth").iloc[-1]
        leans[name] = _lean(last["static"], last["dynamic"])
    return leans


def _method_lines(title: str, config: dict, layers: pd.DataFrame) -> list[str]:
    """The title, the method with the run's settings, clips per model and the figure."""
    change = find_setting(config, "dynamic_pairs") or "a colour and texture change of the same clip"
    clips = ", ".join(
        f"{m}: {int(c)}" for m, c in layers.groupby("model", sort=False)["clips"].first().items()
    )
    return [
        f"# {title}",
        "",
        "How much of each layer encodes appearance (static) and how much motion (dynamic), after "
        'Kowal et al., "A Deeper Dive Into What Deep Spatiotemporal Networks Encode" (CVPR '
        "2022). Static pairs share appearance but not motion: a clip and the same clip with its "
        f"frames shuffled. Dynamic pairs share motion but not appearance: {change}. This colour "
        "and texture change is a cheap substitute for their video stylisation; it applies the "
        "same map to every frame, so motion is kept exactly. Each layer's output is averaged "
        "over time and space to one vector per clip. A factor's score is the pairs' summed "
        "covariance over the total variance; the softmax of (dynamic score, static score, 1) "
        "gives the shares of dynamic, static and residual dimensions. A unit is static or "
        "dynamic when its own correlation for that factor is above "
        f"{find_setting(config, 'threshold') or 0.5}, joint when both are, neither otherwise. "
        "Note that a unit measuring motion energy also changes under shuffling, so it cannot be "
        "static, and that a share of dimensions cannot exceed 47 %. Both clips of a pair are "
        "centred by the pairs' joint mean, so where the change shifts a layer's mean response "
        "(typically early layers, which read colour directly) the covariance, and with it the "
        "dynamic score, turns negative.",
        "",
        f"Clips per model ({find_setting(config, 'split') or 'test'} split): {clips}.",
        "",
        "![static and dynamic share per layer](figures/static_dynamic.png)",
        "",
    ]


def _findings_section(layers: pd.DataFrame) -> list[str]:
    """``## Findings``: one paragraph per network, the tally of leans, negative dynamic scores."""
    out = ["## Findings", ""]
    for name, g in layers.groupby(network_names(layers), sort=False):
        out += [_network_paragraph(str(name), g), ""]
    leans = network_leans(layers)
    tally = {k: sum(v == k for v in leans.values()) for k in ("static", "dynamic", "balanced")}
    if tally["static"] > len(leans) / 2:
        verdict = "Most lean static, as Kowal et al. found for most models"
    else:
        verdict = "Kowal et al. found that most models lean static; most of these do not"
    negative = layers[layers["score_dynamic"] < 0]
    out += [
        f"At their last layer {tally['static']} of {len(leans)} networks (streams counted "
        f"apart) lean static, {tally['dynamic']} dynamic and {tally['balanced']} balanced. "
        f"{verdict}. They also found two-stream models with cross connections more balanced.",
        "",
    ]
    if len(negative):
        shown = ", ".join(f"{r.model} {r.layer}" for r in negative.itertuples())
        out += [
            f"Negative dynamic scores ({shown}): the appearance change shifts these layers' "
            "mean response, so they read appearance, not motion.",
            "",
        ]
    return out


def _per_layer_section(layers: pd.DataFrame) -> list[str]:
    """``## Per layer``: the shares and unit counts of every layer."""
    columns = ["model", "stream", "layer", "depth", "channels", "static", "dynamic", "residual"]
    columns += [f"units_{k}" for k in ("static", "dynamic", "joint", "neither")]
    return ["## Per layer", "", frame_table(layers[[c for c in columns if c in layers]]), ""]


def static_dynamic_report(
    run_dir: str | Path,
    data: str | Path | None = None,
    title: str = "Static and dynamic units per layer",
) -> Path:
    """Figure and ``report.md`` of a static_dynamic_bias folder, from its tables alone.

    Reads ``layers.csv`` (and ``config.json`` for the settings), draws
    ``figures/static_dynamic`` (:func:`motionprobe.plots.static_dynamic_plot`, PNG and SVG) and
    writes ``report.md`` (atomically): the method, one paragraph per network (or stream of a
    two-stream network) generated from the numbers, the comparison with Kowal et al. (CVPR 2022),
    and the full per-layer table. Never runs a model.

    Args:
        run_dir: Folder written by ``studies/static_dynamic_bias.py`` or by
            :func:`motionprobe.probes.bias.run_bias`.
        data: Unused (the report needs no dataset); accepted like every study report.
        title: Report title.

    Returns:
        The path of ``report.md``.
    """
    run_dir = Path(run_dir)
    path = run_dir / "layers.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; is this a static_dynamic_bias folder?")
    config = read_config(run_dir)
    layers = pd.read_csv(path)
    layers["stream"] = layers["stream"].fillna("").astype(str) if "stream" in layers else ""
    plots.save_figure(plots.static_dynamic_plot(layers), run_dir / "figures" / "static_dynamic")
    out = _method_lines(title, config, layers)
    out += _findings_section(layers)
    out += _per_layer_section(layers)
    return write_text(run_dir / "report.md", "\n".join(out))


#: The studies' shared models analysed by default.
MODELS = ("c3d", "i3d_rgb", "i3d_two_stream")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's own options."""
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=None,
        help="[name=]checkpoint, repeatable or comma-separated (default: the study models "
        + ", ".join(MODELS)
        + ")",
    )
    parser.add_argument("--split", default="test", help="split whose clips are paired")
    parser.add_argument("--clips-per-class", type=int, default=20,
                        help="clips drawn per class (smoke: at most 4)")  # fmt: skip
    parser.add_argument("--layers", default=None, help="comma-separated module names")
    parser.add_argument("--frames", type=int, default=None,
                        help="clip length of model specs (default: each model's own)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the clip draw, shuffles and appearance changes")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(ctx: StudyContext, args: argparse.Namespace) -> Path:
    """Measure every model's layers on the same clip pairs; the tables side by side."""
    checkpoints = list(named_checkpoints(args.checkpoint).items())
    if not checkpoints:
        checkpoints = [(name, ctx.model(name)) for name in MODELS]
    clips = min(args.clips_per_class, 4) if ctx.smoke else args.clips_per_class
    layers = args.layers.split(",") if args.layers else None
    tables, units, used, settings = [], [], {}, {}
    for name, checkpoint in checkpoints:
        folder = ctx.out / name
        run_bias(checkpoint, ctx.data, folder, split=args.split, clips_per_class=clips,
                 layers=layers, seed=args.seed, device=ctx.device, progress=ctx.progress,
                 name=name, overwrite=ctx.overwrite, frames=args.frames,
                 truncated=ctx.truncated)  # fmt: skip
        used[name] = str(checkpoint) if is_spec(checkpoint) else str(Path(checkpoint).resolve())
        run = read_run(folder)
        tables.append(run.table("layers.csv"))
        units.append(run.table("units.csv"))
        settings = {k: run.config[k] for k in ("threshold", "static_pairs", "dynamic_pairs")}
    write_csv(ctx.out / "layers.csv", pd.concat(tables, ignore_index=True))
    write_csv(ctx.out / "units.csv", pd.concat(units, ignore_index=True))
    record_study(
        ctx.out,
        "static_dynamic_bias",
        vars(args),
        checkpoints=used,
        data=absolute_data(ctx.data),
        split=args.split,
        clips_per_class=clips,
        seed=args.seed,
        **settings,
    )
    return static_dynamic_report(ctx.out, data=ctx.data)


STUDY = register_study(
    Study(
        "static_dynamic_bias",
        "Which layers encode appearance and which motion? Static and dynamic units per layer.",
        run,
        report=static_dynamic_report,
        add_arguments=add_arguments,
        shared=("data",),
    )
)
