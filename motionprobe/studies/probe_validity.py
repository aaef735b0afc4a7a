"""How far can the verdicts be trusted? A model's verdicts against control families' ground truth.

:func:`validate` trains the architecture on each synthetic control family (tiny settings, several
seeds), runs the default probe suite on each test split, and compares the verdict and its axes
with the families' ground truth. The families were designed independently of each other and of
the rule, so the agreement is measured on data the rule was not tuned to. Everything resumes:
datasets, trainings and probe runs that finished are reused, unfinished ones continue.
:func:`validity_report` renders a model's folder from its tables alone; the study runs
:func:`validate` for several architectures and writes their summary.

Layout of ``out``::

    data/{family}_{size}px/            the controls (shared by every architecture)
    {model}/{family}/seed{s}/train/     the training run
    {model}/{family}/seed{s}/probe/     the probe run (taxonomy.csv with bootstrap stability)
    {model}/taxonomy.csv                every family and seed, with seed agreement and `stable`
    {model}/agreement.csv               family x seed x axis: agreeing classes and share
    {model}/misses.csv                  every disagreeing class and axis, with the rule's reason
    {model}/figures/agreement.{png,svg} family x axis agreement
    {model}/report.md
    summary.csv, summary.{png,svg}      the study: every model x family x axis
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from motionprobe import plots, verdict
from motionprobe.data.families import FAMILIES, get_family
from motionprobe.data.synthetic import load_truth, synthesize
from motionprobe.io import record_study, write_csv, write_text
from motionprobe.probes.engine import run_probe
from motionprobe.recipes import synthetic_config
from motionprobe.report import markdown_table, pct, read_config
from motionprobe.studies.base import Study, register_study
from motionprobe.studies.context import StudyContext
from motionprobe.train import TrainConfig, train

#: The controls each family is synthesised with: short clips, and enough test clips per class
#: for a drop's CI to tell 0 from ``min_drop`` (at 24, a class that loses 2 of its clips has a
#: CI reaching past 0.2 and stays undetermined; probing is a small share of the time).
DATA = dict(train_per_class=32, val_per_class=8, test_per_class=48, frames=16)
#: The same for ``smoke`` runs, which only exercise the code.
SMOKE_DATA = dict(train_per_class=4, val_per_class=2, test_per_class=6, frames=8)

#: Frame side per model family: Inception models need more pixels than their five stride-2
#: stages would leave at 32 px.
SIZES = {"i3d": 64, "two_stream": 64}


#: Epochs where the model's CPU recipe stops short on the harder families: C3D's recipe is tuned
#: to the 13-class default and leaves the spin and swarm controls underfitted at 30.
EPOCHS = {"c3d_tiny": 40}


def default_size(model: str) -> int:
    """Frame side used to validate ``model`` (see :data:`SIZES`; 32 px otherwise)."""
    return next((s for prefix, s in SIZES.items() if model.startswith(prefix)), 32)


def family_data(
    root: Path,
    family: str,
    size: int,
    smoke: bool,
    progress: bool,
    train_per_class: int | None = None,
) -> Path:
    """The controls of ``family`` at ``size`` px under ``root``, synthesised if missing.

    ``train_per_class`` other than :data:`DATA`'s gives another folder (``..._n{N}``): the
    validation and test splits stay the same size, so agreements stay comparable.
    """
    tag = "_smoke" if smoke else ""
    extra = dict(SMOKE_DATA, classes=get_family(family).smoke) if smoke else dict(DATA)
    if train_per_class and train_per_class != extra["train_per_class"]:
        extra["train_per_class"] = train_per_class
        tag += f"_n{train_per_class}"
    data = root / f"{family}_{size}px{tag}"
    if not (data / "classes.json").is_file():
        synthesize(data, size=size, family=family, progress=progress, **extra)
    return data


def train_probe(
    model: str,
    data: Path,
    run: Path,
    seed: int,
    epochs: int | None = None,
    size: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    lr: float | None = None,
) -> pd.DataFrame:
    """Train ``model`` on ``data`` with ``seed`` into ``run/train``, probe into ``run/probe``.

    Returns:
        The taxonomy of the run's predictions (with bootstrap stability).
    """
    probe = run / "probe"
    if not (probe / "predictions.parquet").is_file():
        best = run / "train" / "checkpoints" / "best.pt"
        if not ((run / "train" / "result.json").is_file() and best.is_file()):
            fields = synthetic_config(model)
            fields.update(data=str(data), out=str(run / "train"), seed=seed, device=device)
            fields.update(resume=True, workers=0)
            if epochs:
                fields["epochs"] = epochs
            if lr:
                fields["lr"] = lr
            if size:
                fields.update(size=size, resize=size)
            train(TrainConfig(**fields), progress=progress)
        # Farneback for the conflict partners' motion: the global conflict needs only each
        # step's dominant displacement, which it gets right at a fraction of TV-L1's cost.
        run_probe(best, data, probe, device=device, flow_method="farneback", progress=progress)
    # Judged afresh from the predictions, so a finished run is always read by today's rule.
    preds = pd.read_parquet(probe / "predictions.parquet")
    tax = verdict.judge(preds)
    return verdict.mark_stable(tax, verdict.stability(preds))


def validate(
    model: str,
    out: str | Path,
    families: Sequence[str] = FAMILIES,
    seeds: Sequence[int] = (0, 1),
    epochs: int | None = None,
    size: int | None = None,
    smoke: bool = False,
    device: str = "cpu",
    progress: bool = True,
    train_per_class: int | None = None,
    lr: float | None = None,
) -> dict:
    """Train and probe ``model`` on every family and seed; compare the verdicts with the truth.

    Args:
        model: Any registered model (``motionprobe models``).
        out: Output folder (see the module docstring); the data folder is shared by models.
        families: Control families (:data:`~motionprobe.data.families.FAMILIES`).
        seeds: Training seeds; a verdict that differs between seeds is marked unstable.
        epochs: Override the model's synthetic recipe.
        size: Frame side (default :func:`default_size`).
        smoke: Tiny data and one epoch: exercises the code, measures nothing.
        device: Torch device.
        progress: Show progress bars.
        train_per_class: Training clips per class (default :data:`DATA`'s); more than the CPU
            default lets a model learn the harder families where time allows (a GPU).
        lr: Override the recipe's peak learning rate.

    Returns:
        Summary: the model, agreement per family (pooled over seeds and axes), seconds, paths.
    """
    for family in families:  # refuse an unknown family before any training
        get_family(family)
    out = Path(out)
    size = size or default_size(model)
    epochs = 1 if smoke else epochs or EPOCHS.get(model)
    folder = out / re.sub(r"[^\w.-]", "_", model)  # torchvision:r3d_18 -> torchvision_r3d_18
    start = time.time()
    taxes, agree, misses = [], [], []
    for family in families:
        data = family_data(out / "data", family, size, smoke, progress, train_per_class)
        truth = load_truth(data)
        runs = {
            s: train_probe(
                model, data, folder / family / f"seed{s}", s, epochs, size, device, progress, lr
            )
            for s in seeds
        }
        for s, tax in runs.items():
            others = [t for k, t in runs.items() if k != s]
            tax = verdict.mark_stable(tax, tax[["class", "stability"]], others)
            taxes.append(tax.assign(family=family, seed=s))
            clean = float((tax["acc_clean"] * tax["n"]).sum() / max(tax["n"].sum(), 1))
            a = verdict.agreement(tax, truth).assign(family=family, seed=s, clean_acc=clean)
            agree.append(a)
            reasons = tax.set_index("class")["reason"]
            bad = a[~a["agrees"]]
            misses.append(bad.assign(reason=bad["class"].map(reasons)))
    tax_all = pd.concat(taxes, ignore_index=True)
    long = pd.concat(agree, ignore_index=True)
    long["agrees_recognised"] = long["agrees"] & long["recognised"]
    long["wrong"] = long["committed"] & ~long["agrees"]
    long["committed_stable"] = long["committed"] & long["stable"]
    long["wrong_stable"] = long["wrong"] & long["stable"]
    table = (
        long.groupby(["family", "seed", "axis"], sort=False)
        .agg(
            agree=("agrees", "sum"),
            classes=("agrees", "size"),
            agree_recognised=("agrees_recognised", "sum"),
            recognised=("recognised", "sum"),
            committed=("committed", "sum"),
            wrong=("wrong", "sum"),
            committed_stable=("committed_stable", "sum"),
            wrong_stable=("wrong_stable", "sum"),
            clean_acc=("clean_acc", "first"),
        )
        .reset_index()
    )
    table["share"] = table["agree"] / table["classes"]
    table["share_recognised"] = table["agree_recognised"] / table["recognised"]
    write_csv(folder / "taxonomy.csv", tax_all)
    write_csv(folder / "agreement.csv", table)
    write_csv(folder / "misses.csv", pd.concat(misses, ignore_index=True))
    seconds = time.time() - start
    record_study(
        folder,
        "probe_validity",
        dict(
            model=model,
            families=list(families),
            seeds=list(seeds),
            epochs=epochs,
            size=size,
            smoke=smoke,
            train_per_class=train_per_class,
            lr=lr,
        ),
        rule=verdict.Rule().to_dict(),
        seconds=seconds,
    )
    report = validity_report(folder)
    pooled = long[long["axis"] == "verdict"].groupby("family", sort=False)["agrees"].mean()
    return {
        "model": model,
        "verdict_agreement": {k: float(v) for k, v in pooled.items()},
        "seconds": seconds,
        "out": str(folder),
        "report": str(report),
    }


#: The agreement columns summed over seeds before the shares are taken.
_SUMS = ("agree", "classes", "agree_recognised", "recognised")
#: The counts of committed and wrong verdicts, in folders whose validation recorded them.
_ANSWER_SUMS = ("committed", "wrong", "committed_stable", "wrong_stable")


def pooled_agreement(table: pd.DataFrame) -> pd.DataFrame:
    """``agreement.csv`` summed over seeds, per family and axis, with the share that agrees.

    Args:
        table: ``agreement.csv`` (one row per family, seed and axis).

    Returns:
        Indexed by ``(family, axis)``: the summed counts and ``share`` (agree / classes).
    """
    sums = [*_SUMS, *(c for c in _ANSWER_SUMS if c in table)]
    pooled = table.groupby(["family", "axis"], sort=False)[sums].sum()
    pooled["share"] = pooled["agree"] / pooled["classes"]
    return pooled


def _agreement_rows(table: pd.DataFrame, pooled: pd.DataFrame, axes: list[str]) -> list[list]:
    """One row per family: clean accuracy, agreement per axis, recognised classes and, when
    recorded, the wrong verdicts among those given."""
    clean = table[table["axis"] == "verdict"].groupby("family", sort=False)["clean_acc"].mean()
    answers = "wrong" in pooled

    def cell(fam: str, axis: str, ok: str = "agree", n: str = "classes") -> str:
        k, m = pooled.at[(fam, axis), ok], pooled.at[(fam, axis), n]
        return f"{pct(k / m if m else np.nan)} ({k:.0f}/{m:.0f})"

    def wrong(fam: str) -> str:
        p = pooled.loc[(fam, "verdict")]
        return (
            f"{p['wrong']:.0f} of {p['committed']:.0f} "
            f"({p['wrong_stable']:.0f} of {p['committed_stable']:.0f} stable)"
        )

    return [
        [fam, pct(clean.get(fam)), *(cell(fam, a) for a in axes)]
        + [cell(fam, "verdict", "recognised", "classes")]
        + [cell(fam, "verdict", "agree_recognised", "recognised")]
        + ([wrong(fam)] if answers else [])
        for fam in pooled["share"].unstack("axis").index
    ]


def _agreement_section(title: str, model: str, table: pd.DataFrame, tax: pd.DataFrame) -> list[str]:
    """The title, what was run, the agreement table per family and how to read it."""
    pooled = pooled_agreement(table)
    wide = pooled["share"].unstack("axis")
    axes = [a for a in ("verdict", "sufficient", "order", "cue_preference") if a in wide]
    answers = "wrong" in pooled
    rows = _agreement_rows(table, pooled, axes)
    seeds = sorted(tax["seed"].unique())
    return [
        f"# {title or f'How far can the verdicts of {model} be trusted?'}",
        "",
        f"`{model}` was trained on each control family ({len(seeds)} training seed(s): "
        f"{', '.join(map(str, seeds))}) and probed with the default suite on each test split. "
        "Each family's ground truth is known by construction (`classes.json`); the families "
        "were designed independently of each other and of the verdict rule. Below, the share "
        "of classes (pooled over seeds) whose verdict, and each axis, matches the truth. "
        "*Cue preference* is what a class's cue-conflict clips follow; it is not part of the "
        "verdict, and a model that recognises a colour may still follow a strong motion cue.",
        "",
        markdown_table(
            rows,
            ["family", "clean accuracy", *axes, "classes recognised", "verdict, recognised"]
            + (["wrong verdicts of those given"] if answers else []),
        ),
        "",
        "A class the model does not tell apart on clean input (accuracy below the rule's "
        "`min_clean`, or precision below `min_precision`) gets `inconclusive`, never a wrong "
        "verdict; the two columns before the last separate "
        "what the model failed to learn from what the rule got wrong. The last counts the "
        "verdicts the rule committed to (not `inconclusive`) that are wrong, in all and among "
        "the stable ones: the error that matters most. The ground truth says "
        "what the *data* allow; a model that has not learned a family (clean accuracy well "
        "below 100 %) may rely on other cues than the intended ones, and there a disagreement "
        "can be the model's, not the rule's.",
        "",
        "![agreement](figures/agreement.png)",
        "",
    ]


def _misses_section(misses: pd.DataFrame) -> list[str]:
    """``## Verdicts that miss the ground truth`` and, when any, ``## Axes that miss``."""
    verdict_misses = misses[misses["axis"] == "verdict"]
    out = ["## Verdicts that miss the ground truth", ""]
    if verdict_misses.empty:
        out += ["None: every class of every family and seed gets its expected verdict.", ""]
    else:
        out += [
            markdown_table(
                verdict_misses[["family", "seed", "class", "cue", "expected", "got", "reason"]]
                .to_numpy()
                .tolist(),
                ["family", "seed", "class", "cue", "expected", "got", "why (the rule's reason)"],
            ),
            "",
        ]
    axis_misses = misses[misses["axis"].isin(["sufficient", "order"])]
    if len(axis_misses):
        grouped = axis_misses.groupby(["family", "axis"], sort=False)["class"].agg(
            lambda c: ", ".join(sorted(set(map(str, c))))
        )
        out += ["## Axes that miss", ""]
        out += [f"- {fam}, {axis}: {names}" for (fam, axis), names in grouped.items()]
        out += [""]
    return out


def _stability_section(tax: pd.DataFrame) -> list[str]:
    """``## Stability``: the verdicts that differ between seeds or bootstrap resamples."""
    unstable = tax[~tax["stable"].astype(bool)] if "stable" in tax else tax.iloc[:0]
    out = ["## Stability", ""]
    out.append(
        f"{len(unstable)} of {len(tax)} verdicts (class x family x seed) are unstable: they differ "
        "between training seeds or survive fewer than 80 % of bootstrap resamples of the clips."
        + (
            " They are: "
            + "; ".join(
                f"{r['family']}/{r['class']} (seed {r['seed']}: {r['verdict']}, bootstrap "
                f"{pct(r['stability'])})"
                for _, r in unstable.iterrows()
            )
            + "."
            if len(unstable)
            else ""
        )
    )
    return out


def validity_report(run_dir: str | Path, data: str | Path | None = None, title: str = "") -> Path:
    """Figure and ``report.md`` of a validation folder (:func:`validate`).

    Reads ``agreement.csv``, ``misses.csv`` and ``taxonomy.csv`` (every family and seed).

    Args:
        run_dir: The validation folder.
        data: Unused (each family's ground truth is in the tables); accepted like every study
            report.
        title: Report title (default: a question naming the model).

    Returns:
        The path of ``report.md``.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    model = config.get("study_params", {}).get("model", run_dir.name)
    table = pd.read_csv(run_dir / "agreement.csv")
    misses = pd.read_csv(run_dir / "misses.csv", keep_default_na=False, na_values=[""])
    tax = pd.read_csv(run_dir / "taxonomy.csv", keep_default_na=False, na_values=[""])
    figure = plots.agreement_heatmap(table, f"{model}: verdicts against the ground truth")
    plots.save_figure(figure, run_dir / "figures" / "agreement")
    out = _agreement_section(title, model, table, tax)
    out += _misses_section(misses)
    out += _stability_section(tax)
    out += ["", f"Rule thresholds: `{json.dumps(config.get('rule', {}))}`.", ""]
    seconds = config.get("seconds")
    if seconds:
        out += [
            f"Wall time of the last call: {seconds / 60:.1f} min (finished runs are reused).",
            "",
        ]
    return write_text(run_dir / "report.md", "\n".join(out))


DEFAULT_MODELS = ("c3d_tiny", "i3d_rgb_tiny")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's own options."""
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="registered models")
    parser.add_argument("--families", default=",".join(FAMILIES), help="control families")
    parser.add_argument("--seeds", default="0,1", help="training seeds")
    parser.add_argument("--train-per-class", type=int, default=None,
                        help="training clips per class (default 32; 128 on a GPU)")  # fmt: skip


def run(ctx: StudyContext, args: argparse.Namespace) -> Path:
    """Validate every model; the summary table and figure over models, families and axes."""
    rows = []
    for model in filter(None, args.models.split(",")):
        result = validate(
            model,
            ctx.out,
            families=[f for f in args.families.split(",") if f],
            seeds=[int(s) for s in args.seeds.split(",") if s],
            smoke=ctx.smoke,
            device=ctx.device,
            train_per_class=args.train_per_class,
        )
        table = pd.read_csv(Path(result["out"]) / "agreement.csv")
        pooled = table.groupby(["family", "axis"], sort=False)[["agree", "classes"]].sum()
        for (family, axis), r in pooled.iterrows():
            rows.append((model, family, axis, int(r["agree"]), int(r["classes"])))
    summary = pd.DataFrame(rows, columns=["model", "family", "axis", "agree", "classes"])
    summary["share"] = summary["agree"] / summary["classes"]
    path = write_csv(ctx.out / "summary.csv", summary)
    rows = summary.assign(family=summary["model"] + " / " + summary["family"])
    plots.save_figure(
        plots.agreement_heatmap(rows, "Verdicts against the ground truth"), ctx.out / "summary"
    )
    verdicts = summary[summary["axis"] == "verdict"]
    text = ", ".join(
        f"{r.model}/{r.family} {100 * r.share:.0f} %" for r in verdicts.itertuples(index=False)
    )
    print(f"probe_validity: verdicts right on {text}")
    return path


STUDY = register_study(
    Study(
        "probe_validity",
        "How far can the verdicts be trusted? Architectures against control families that know.",
        run,
        report=validity_report,
        add_arguments=add_arguments,
        shared=(),
    )
)
