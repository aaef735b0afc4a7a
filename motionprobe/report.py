"""Write a run's report (Markdown) from its files: per_class.csv, taxonomy.csv, predictions.parquet.

The report reads only the run folder (see the "Results" contract in ``DESIGN.md``), so any run can
be re-reported without re-running a model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from motionprobe.io import write_text
from motionprobe.stats import (
    CLEAN,
    accuracy_by_intervention,
    cue_agreement,
    cue_conflict,
    share_ci,
)
from motionprobe.types import VERDICTS

_MISSING = "–"


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------


def _cell(value: Any, digits: int = 3) -> str:
    """One Markdown table cell: floats rounded, NaN/None as a dash, pipes escaped."""
    if value is None:
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return _MISSING
        return f"{value:.{digits}f}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    try:
        if pd.isna(value):
            return _MISSING
    except (TypeError, ValueError):
        pass
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A GitHub-flavoured Markdown table (no dependency on ``tabulate``).

    >>> print(markdown_table([["a", 0.5]], ["class", "acc"]))
    | class | acc |
    | --- | --- |
    | a | 0.500 |
    """
    lines = [
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _frame_table(df: pd.DataFrame) -> str:
    return markdown_table(df.itertuples(index=False, name=None), list(df.columns))


def _ci(value: float, low: float, high: float, digits: int = 2) -> str:
    if value is None or pd.isna(value):
        return _MISSING
    if pd.isna(low) or pd.isna(high):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _pct(x: float) -> str:
    return _MISSING if pd.isna(x) else f"{100 * x:.1f} %"


# --------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------


def _find(config: Mapping[str, Any], *keys: str) -> Any:
    """First value of any of ``keys`` in ``config``, searching nested dicts breadth-first."""
    queue: list[Mapping[str, Any]] = [config]
    while queue:
        current = queue.pop(0)
        for key in keys:
            if key in current and current[key] not in (None, "", [], {}):
                return current[key]
        queue.extend(v for v in current.values() if isinstance(v, Mapping))
    return None


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_describe(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_describe(v) for v in value)
    return str(value)


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def _controlled_section(tax: pd.DataFrame) -> list[str]:
    """Naive frozen-frame drops and verdicts beside the artifact-controlled ones."""
    judged = tax[tax["verdict"] != "inconclusive"]
    naive_sf = (tax["verdict_naive"] == "single_frame").to_numpy()
    ctl_sf = (tax["verdict"] == "single_frame").to_numpy()
    s_n, lo_n, hi_n = share_ci(naive_sf)
    s_c, lo_c, hi_c = share_ci(ctl_sf)
    changed = tax[tax["verdict"] != tax["verdict_naive"]]
    mean_naive = float(tax["drop_freeze"].mean())
    mean_ctl = float(tax["drop_controlled"].mean())
    conditions = ", ".join(f"`{c}`" for c in dict.fromkeys(tax["controlled"].dropna()))
    lines = [
        "## Naive frozen frame versus artifact-controlled single frame",
        "",
        "The naive test replicates the middle frame (Huang et al. 2018's baseline); it overstates "
        "what motion adds, because a static clip is out of distribution and the middle frame may "
        "not be the informative one. The controlled estimate is, per class, the single-frame "
        f"condition that costs it least among those run ({conditions}); the final verdict also "
        "reads the cue conflict.",
        "",
        f"Mean drop over classes: naive **{mean_naive:.3f}**, controlled **{mean_ctl:.3f}**. "
        f"Classes judged single_frame: naive {_pct(s_n)} (95 % CI {_pct(lo_n)} – {_pct(hi_n)}), "
        f"controlled {_pct(s_c)} (95 % CI {_pct(lo_c)} – {_pct(hi_c)}) of {len(tax)} classes "
        f"({len(judged)} with a conclusive verdict). The verdict changes for {len(changed)} "
        "class(es)"
        + (": " + ", ".join(changed["class"].astype(str)) if len(changed) else "")
        + ".",
        "",
    ]
    rows = [
        (
            r["class"],
            _ci(r["drop_freeze"], r["ci_low_freeze"], r["ci_high_freeze"]),
            r["controlled"],
            _ci(r["drop_controlled"], r["ci_low_controlled"], r["ci_high_controlled"]),
            _ci(r.get("drop_conflict"), r.get("ci_low_conflict"), r.get("ci_high_conflict")),
            r["verdict_naive"],
            r["verdict"],
        )
        for _, r in tax.iterrows()
    ]
    headers = ["class", "naive freeze drop [CI]", "controlled condition", "controlled drop [CI]"]
    headers += ["conflict drop [CI]", "verdict (naive)", "verdict"]
    return [*lines, markdown_table(rows, headers), ""]


def _conflict_section(preds: pd.DataFrame, cues: Mapping[str, str] | None) -> list[str]:
    """Which cue predictions follow when one clip's appearance moves with another's motion."""
    table = cue_conflict(preds, {str(k): v for k, v in (cues or {}).items()} or None)
    lines = [
        "## Cue conflict: appearance of one clip, motion of another",
        "",
        "Each clip's frame is moved by the motion of a clip of another class (the partner). "
        "`appearance`: the share of pairs predicted as the frame's own class; `motion`: as the "
        "partner's class; `other`: anything else; `moved`: the mean share of the frame's pixels "
        "the partner's motion moves (the dense mode moves only where the partner moved, which "
        "may miss the frame's own subject; the global mode moves the whole frame). A class "
        "recognised by its appearance keeps its label whatever motion accompanies it.",
        "",
    ]
    if cues:
        lines += [
            "With known cues, the `motion_cue` rows keep only partners whose class is defined by "
            "motion (cue motion or order), the pairs where following the motion can be read.",
            "",
        ]
    return [*lines, _frame_table(table.round(3)), ""]


def write_report(
    run_dir: str | Path,
    title: str = "What makes a video a video",
    config: Mapping[str, Any] | None = None,
    cues: Mapping[str, str] | None = None,
) -> Path:
    """Write ``run_dir/report.md`` (atomically) from the run's tables.

    Reads ``per_class.csv`` and ``taxonomy.csv`` (required), ``predictions.parquet`` (overall
    accuracies; the section is skipped when absent), and the optional ``bad_items.csv``
    (``video_id, path, reason``) and ``config.json``. Figures in ``run_dir/figures/`` are linked
    with relative paths.

    Args:
        run_dir: The run folder.
        title: Report title.
        config: Run parameters; default: ``run_dir/config.json`` when present. Model, checkpoint,
            dataset, split, interventions, seeds and taxonomy thresholds are looked up by key
            (nested dicts too).
        cues: Optional ``{class: cue}`` ground truth (synthetic data): adds a cue column and an
            agreement section.

    Returns:
        The path of ``report.md``.

    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (run / "per_class.csv").write_text(
    ...     "class,intervention,n,acc,acc_clean,drop,ci_low,ci_high\\n"
    ...     "a,freeze,10,0.9,0.9,0.0,0.0,0.0\\n")
    >>> _ = (run / "taxonomy.csv").write_text("class,verdict\\na,single_frame\\n")
    >>> write_report(run).name
    'report.md'
    """
    run_dir = Path(run_dir)
    for name in ("per_class.csv", "taxonomy.csv"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: missing (needed for the report)")
    per = pd.read_csv(run_dir / "per_class.csv", keep_default_na=False, na_values=[""])
    tax = pd.read_csv(run_dir / "taxonomy.csv", keep_default_na=False, na_values=[""])
    per["class"] = per["class"].astype(str)
    per["intervention"] = per["intervention"].astype(str)
    tax["class"] = tax["class"].astype(str)

    if config is None and (run_dir / "config.json").is_file():
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    config = dict(config or {})
    preds_path = run_dir / "predictions.parquet"
    preds = pd.read_parquet(preds_path) if preds_path.is_file() else None

    interventions = list(dict.fromkeys(per["intervention"]))
    freeze = "freeze" if "freeze" in interventions or not interventions else interventions[0]

    out: list[str] = [f"# {title}", ""]

    # -- what was run ----------------------------------------------------------------------
    out += ["## What was run", ""]
    facts = []
    for label, keys in (
        ("Model", ("model", "model_name", "arch")),
        ("Checkpoint", ("checkpoint", "checkpoint_path", "weights")),
        ("Dataset", ("data", "dataset", "dataset_root", "data_root", "root")),
        ("Split", ("split",)),
        ("Interventions", ("interventions",)),
        ("Seeds", ("seeds", "seed")),
    ):
        value = _find(config, *keys) if config else None
        if value is None and label == "Interventions":
            names = preds["intervention"].astype(str) if preds is not None else interventions
            value = list(dict.fromkeys(names))
        if value is None and label == "Seeds" and preds is not None and "seed" in preds:
            value = sorted(pd.unique(preds["seed"]).tolist())
        facts.append(f"- **{label}:** {_describe(value) if value is not None else 'not recorded'}")
    for label, keys in (("Git commit", ("git_commit", "commit")), ("Torch", ("torch",))):
        value = _find(config, *keys) if config else None
        if value is not None:
            facts.append(f"- **{label}:** {_describe(value)}")
    if not config:
        facts.append("- (no config.json in the run folder)")
    out += [*facts, ""]

    # -- overall accuracy --------------------------------------------------------------------
    out += ["## Overall accuracy", ""]
    if preds is not None and len(preds):
        acc = accuracy_by_intervention(preds)
        n_clips = int(acc.loc[acc["intervention"] == CLEAN, "n"].sum())
        clean_row = acc[acc["intervention"] == CLEAN]
        if len(clean_row):
            r = clean_row.iloc[0]
            out += [
                f"Clean accuracy: **{_ci(r['acc'], r['ci_low'], r['ci_high'], 3)}** "
                f"over {n_clips} clips (95 % bootstrap CI over clips; seeds averaged per clip).",
                "",
            ]
        out.append(
            markdown_table(
                [
                    (r.intervention, r.n, _ci(r.acc, r.ci_low, r.ci_high, 3))
                    for r in acc.itertuples(index=False)
                ],
                ["intervention", "clips", "accuracy [95 % CI]"],
            )
        )
    else:
        out.append("predictions.parquet not found: overall accuracies not available.")
    out.append("")

    # -- verdicts -----------------------------------------------------------------------------
    out += ["## Verdicts", ""]
    counts = tax["verdict"].value_counts()
    out.append(
        markdown_table(
            [(v, int(counts.get(v, 0))) for v in VERDICTS]
            + [(v, int(c)) for v, c in counts.items() if v not in VERDICTS],
            ["verdict", "classes"],
        )
    )
    flags = (tax["verdict"] == "single_frame").to_numpy()
    share, low, high = share_ci(flags)
    judged = int((tax["verdict"] != "inconclusive").sum())
    share_j, low_j, high_j = share_ci(flags[(tax["verdict"] != "inconclusive").to_numpy()])
    out += [
        "",
        f"Share of classes recognised from a single frame (verdict single_frame): "
        f"**{_pct(share)}** (95 % CI {_pct(low)} – {_pct(high)}) of {len(tax)} classes; "
        f"{_pct(share_j)} (95 % CI {_pct(low_j)} – {_pct(high_j)}) of the {judged} classes "
        "with a conclusive verdict. (Bootstrap over classes.)",
        "",
    ]

    # -- per-class table ------------------------------------------------------------------------
    out += ["## Per class", ""]
    cue_map = {str(k): v for k, v in (cues or {}).items()}
    by = {iv: per[per["intervention"] == iv].set_index("class") for iv in interventions}
    headers = ["class"] + (["cue"] if cues else []) + ["verdict", "acc_clean"]
    headers += [f"drop {iv} [CI]" for iv in interventions] + [f"top_pred ({freeze})"]
    rows = []
    for t in tax.itertuples(index=False):
        cls = t[tax.columns.get_loc("class")]
        row: list[Any] = [cls]
        if cues:
            row.append(cue_map.get(cls))
        acc_clean = getattr(t, "acc_clean", np.nan)
        if pd.isna(acc_clean) and interventions and cls in by[interventions[0]].index:
            acc_clean = by[interventions[0]].at[cls, "acc_clean"]
        row += [t.verdict, acc_clean]
        for iv in interventions:
            table = by[iv]
            if cls in table.index:
                r = table.loc[cls]
                row.append(_ci(r["drop"], r.get("ci_low"), r.get("ci_high")))
            else:
                row.append(_MISSING)
        if freeze in by and cls in by[freeze].index and "top_pred" in by[freeze].columns:
            r = by[freeze].loc[cls]
            top = r["top_pred"]
            share_top = r.get("top_pred_share", np.nan)
            row.append(
                _MISSING
                if pd.isna(top)
                else (f"{top} ({share_top:.0%})" if not pd.isna(share_top) else str(top))
            )
        else:
            row.append(_MISSING)
        rows.append(row)
    out += [markdown_table(rows, headers), ""]

    # -- agreement with ground truth ------------------------------------------------------------
    if cues:
        out += ["## Agreement with the ground-truth cues", ""]
        agree = cue_agreement(tax, cues)
        n_ok = int(agree["agrees"].sum())
        out.append(
            f"{n_ok} of {len(agree)} classes with a known cue get the expected verdict "
            "(appearance → single_frame, motion → bag_of_frames, order → ordered_sequence)."
        )
        wrong = agree[~agree["agrees"]]
        if len(wrong):
            out += ["", "Disagreeing classes:", ""]
            out.append(_frame_table(wrong[["class", "cue", "expected", "verdict"]]))
        else:
            out += ["", "Disagreeing classes: none."]
        out.append("")

    # -- naive versus controlled ----------------------------------------------------------------
    if (
        "verdict_naive" in tax.columns
        and tax.get("controlled", pd.Series(dtype=object)).notna().any()
    ):
        out += _controlled_section(tax)

    # -- cue conflict ---------------------------------------------------------------------------
    if preds is not None and preds["intervention"].astype(str).str.startswith("conflict").any():
        out += _conflict_section(preds, cues)

    # -- motion energy --------------------------------------------------------------------------
    energy_path = run_dir / "motion_energy.csv"
    if energy_path.is_file():
        energy = pd.read_csv(energy_path)
        out += [
            "## How much the inputs move",
            "",
            "Motion energy: the mean absolute difference between consecutive frames of the clips "
            "each condition fed the model (pixel units, 0 for a frozen clip); the ratio is to the "
            "clean clips. A generated or injected clip that barely moves behaves like a frozen "
            "one, whatever its name.",
            "",
            _frame_table(energy),
            "",
        ]
    if any("select=oracle" in iv for iv in interventions):
        out += [
            "Conditions with `select=oracle` pick the candidate frame with the true label's "
            "highest score: they read the label and are an upper bound, never an estimate.",
            "",
        ]

    # -- figures ------------------------------------------------------------------------------
    fig_dir = run_dir / "figures"
    pngs = sorted(fig_dir.glob("*.png")) if fig_dir.is_dir() else []
    if pngs:
        out += ["## Figures", ""]
        for png in pngs:
            rel = png.relative_to(run_dir).as_posix()
            svg = png.with_suffix(".svg")
            link = f" ([SVG]({svg.relative_to(run_dir).as_posix()}))" if svg.is_file() else ""
            out += [f"![{png.stem}]({rel}){link}", ""]

    # -- bad items ------------------------------------------------------------------------------
    out += ["## Skipped items", ""]
    bad_path = run_dir / "bad_items.csv"
    bad = (
        pd.read_csv(bad_path, keep_default_na=False, na_values=[""]) if bad_path.is_file() else None
    )
    if bad is None or bad.empty:
        out.append("Skipped/bad items: none.")
    else:
        cols = [c for c in ("video_id", "path", "reason") if c in bad.columns] or list(bad.columns)
        out += [f"Skipped/bad items: {len(bad)}.", "", _frame_table(bad[cols])]
    out.append("")

    # -- how to read this -----------------------------------------------------------------------
    min_drop = _find(config, "min_drop") if config else None
    min_clean = _find(config, "min_clean") if config else None
    min_n = _find(config, "min_n") if config else None
    min_sink = _find(config, "min_sink") if config else None
    min_sink = 0.5 if min_sink is None else min_sink
    src = "from the run's config" if min_drop is not None else "library defaults"
    min_drop = 0.2 if min_drop is None else min_drop
    min_clean = 0.5 if min_clean is None else min_clean
    min_n = 5 if min_n is None else min_n
    out += [
        "## How to read this",
        "",
        "Each drop is a class's clean accuracy minus its accuracy under the intervention, on the "
        "same clips, with a 95 % paired bootstrap CI over the class's clips. A drop is negligible "
        f"when its CI's upper bound is below {min_drop}, material when its CI's lower bound is "
        f"above 0 and the drop is at least {min_drop}, and undetermined otherwise ({src}). A "
        f"class with fewer than {min_n} clips or a clean accuracy below {min_clean} is "
        "inconclusive. The single-frame evidence is the artifact-controlled condition that "
        "costs the class least (frame selection, injected class-agnostic motion, the temporal "
        "generator), or the naive frozen frame when none was run. A class needs frames when that "
        "drop is material, when it is a sink, or when its cue-conflict drop is material (moved by "
        "another clip's motion, it is no longer recognised); it is single_frame when that drop "
        "is negligible, it is not a sink and its cue-conflict drop (if run) is negligible. A "
        "class that needs frames is ordered_sequence when shuffling or reversing "
        "costs it a material drop, bag_of_frames when every available one of those drops is "
        "negligible, and inconclusive otherwise (or when neither was run).",
        "",
        "Sink classes: when motion is removed, clips of many classes may all be predicted as one "
        "class that looks static (a 'still' or 'standing' class). That class keeps its own "
        "accuracy under freezing, yet a single frame does not identify it; its precision falls "
        "instead. The taxonomy therefore treats a class whose precision drops by at least "
        f"{min_sink} under freezing (with at least {min_n} clips predicted as it) as needing "
        "frames. The frozen clip is also out of distribution for a model trained on moving "
        "video, so freeze drops overstate the role of motion; the top_pred column shows where "
        "a class's frozen clips go.",
        "",
    ]

    return write_text(run_dir / "report.md", "\n".join(out))


def make_report(
    run_dir: str | Path, data: str | Path | None = None, title: str = "What makes a video a video"
) -> Path:
    """Figures and ``report.md`` of a probe run folder, from its files alone.

    Draws ``figures/motion_dependence`` (per-class drop under freeze, coloured by verdict, with the
    ground-truth cue when ``data`` holds a ``classes.json``) and ``figures/interventions`` (class x
    intervention accuracy), as PNG and SVG, then writes the report.

    Args:
        run_dir: Folder written by :func:`motionprobe.probes.run_probe`.
        data: Dataset root; default: the ``data`` recorded in the run's ``config.json``.
        title: Report title.

    Returns:
        The path of ``report.md``.
    """
    from motionprobe import plots
    from motionprobe.data.synthetic import load_cues

    run_dir = Path(run_dir)
    for name in ("per_class.csv", "taxonomy.csv"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: missing; is this a probe run folder?")
    config_path = run_dir / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    if data is None and config.get("data"):
        data = config["data"]
    cues = load_cues(data) if data is not None else {}
    per_class_df = pd.read_csv(run_dir / "per_class.csv")
    taxonomy_df = pd.read_csv(run_dir / "taxonomy.csv")
    interventions = set(per_class_df["intervention"])
    if "freeze" in interventions:
        fig = plots.motion_dependence(per_class_df, taxonomy_df, "freeze", cues=cues or None)
        plots.save_figure(fig, run_dir / "figures" / "motion_dependence")
    plots.save_figure(
        plots.intervention_heatmap(per_class_df), run_dir / "figures" / "interventions"
    )
    return write_report(run_dir, title=title, config=config, cues=cues or None)
