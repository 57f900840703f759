"""The report's page: its sections, built from the traces, the figures' JSON and the
validation stage's tables, as a :class:`~.document.Document` (``job`` renders it).

Per experiment the report gives what it is and which seed it reproduces, its config, a
table of final metrics per variant and learning rate, its figures with captions, and its
gradient checks; per seed document it sets what the seed claimed or printed beside what
the pipeline measured. Everything comes from the traces, the figures' JSON and the
validation stage's tables; nothing time- or host-dependent is written, so that the same
inputs give the same bytes (wall times live on the separate timings page).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections import defaultdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
import yaml

from .. import traces
from ..figures import KINDS as FIGURE_KINDS
from ..verdicts import band_text, verdict_text
from .document import (
    Code,
    Document,
    Figure,
    Link,
    Paragraph,
    Section,
)
from .seeds import SEED_TITLES, Evidence, seed_blocks
from .tables import Table, final_metrics, fmt

__all__ = ["build"]

_PACKAGES = ("backproplab", "numpy", "scipy", "pandas", "pyarrow", "matplotlib", "scikit-learn")


# -- reading -------------------------------------------------------------------------


def _by_experiment(paths) -> dict[str, list[Path]]:
    """Trace files grouped by experiment (``results/traces/{experiment}/{table}/...``)."""
    grouped = defaultdict(list)
    for p in map(Path, paths):
        grouped[p.parts[-3]].append(p)
    return grouped


def _read(paths: list[Path]) -> pd.DataFrame:
    frames = [traces.read_table(p).to_pandas() for p in sorted(paths)]
    frame = pd.concat(frames, ignore_index=True)
    categorical = frame.select_dtypes("category").columns
    return frame.astype({c: str for c in categorical})


def _optional(path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path else None


def _git_state() -> str:
    """HEAD's commit, and whether tracked files differ from it (results/ is ignored)."""
    commit = traces.provenance("")["git_commit"]
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return commit
    return commit + (" (with uncommitted changes)" if out.strip() else "")


# -- sections ------------------------------------------------------------------------


# The order in which an experiment's keys read best (the rest follow alphabetically).
_KEY_ORDER = (
    "description",
    "reproduces",
    "dataset",
    "model",
    "variants",
    "train",
    "seeds",
    "learning_rates",
    "rng",
    "legacy_replay_dataset",
    "metrics",
    "trace",
    "figures",
)


def _yaml(name: str, spec: dict) -> str:
    """An experiment's config as YAML, keys in reading order, short lists on one line."""
    ordered = {k: spec[k] for k in _KEY_ORDER if k in spec}
    ordered |= {k: spec[k] for k in sorted(spec) if k not in ordered}
    return yaml.safe_dump(
        {name: ordered}, sort_keys=False, default_flow_style=None, width=96, allow_unicode=True
    )


def _overview(config: dict, runs: dict) -> Section:
    table = Table(
        [
            "experiment",
            "reproduces",
            "data set",
            "variants",
            "learning rates",
            "seeds",
            "runs",
            "diverged",
            "figures",
        ],
        numeric=[False, False, False, True, False, True, True, True, True],
    )
    for name, spec in config["experiments"].items():
        r = runs.get(name)
        table.rows.append(
            [
                name,
                f"seed {spec['reproduces']}" if spec.get("reproduces") else "\u2013",
                spec["dataset"],
                str(r["variant"].nunique()) if r is not None else "\u2013",
                ", ".join(f"{x:g}" for x in spec["learning_rates"]),
                str(len(spec["seeds"])),
                str(len(r)) if r is not None else "\u2013",
                str(int((r["status"] != "ok").sum())) if r is not None else "\u2013",
                str(len(spec.get("figures", {}))),
            ]
        )
    table.caption = "Every experiment of the config, in config order."
    return Section("Overview", "overview", [table])


def _gradcheck_table(rows: pd.DataFrame, caption: str) -> Table:
    table = Table(
        [
            "experiment",
            "variant",
            "seeds \u00d7 checkpoints",
            "largest relative error",
            "largest absolute error",
            "directions: largest relative error",
            "passed",
        ],
        numeric=[False, False, True, True, True, True, False],
        caption=caption,
    )
    for (exp, variant), g in rows.groupby(["experiment", "variant"], sort=False):
        entries = g[g["layer"] >= 0] if "layer" in g else g
        directions = g[g["layer"] < 0] if "layer" in g else g.iloc[:0]
        table.rows.append(
            [
                exp,
                variant,
                f"{g['seed'].nunique()} \u00d7 {g['checkpoint'].nunique()}",
                fmt(entries["max_rel_error"].max(), 3),
                fmt(entries["max_abs_error"].max(), 3),
                fmt(directions["max_rel_error"].max(), 3) if len(directions) else "\u2013",
                "yes" if g["passed"].all() else "NO",
            ]
        )
    return table


def _experiment(name, spec, config, figures, ev: Evidence, report_dir, labels) -> Section:
    """One experiment: description, config, final metrics, checks and figures."""
    runs, metrics = ev.runs.get(name), ev.metrics.get(name)
    sec = Section(f"Experiment {name}", f"exp-{name}")
    if spec.get("description"):
        sec.add(Paragraph(spec["description"]))
    dataset = config["datasets"].get(spec["dataset"], {})
    seeds = len(spec["seeds"])
    summary = f"Data set {spec['dataset']} ({dataset.get('generator', '?')} generator). "
    if spec.get("reproduces"):
        summary = f"Reproduces seed document {spec['reproduces']}. " + summary
    if runs is not None:
        n_var = runs["variant"].nunique()
        gone = int((runs["status"] != "ok").sum())
        summary += (
            f"{n_var} variant(s) \u00d7 {len(spec['learning_rates'])} learning rate(s) "
            f"\u00d7 {seeds} seed(s) = {len(runs)} runs, {gone} diverged."
        )
    sec.add(Paragraph(summary))
    sec.add(Code(_yaml(name, spec), "Its config, with every default filled in:"))
    if runs is not None:
        order = {v: k for k, v in enumerate(dict.fromkeys(runs["variant"]))}
        runs = runs.assign(variant_index=runs["variant"].map(order))
        sec.add(final_metrics(runs, metrics, {v: labels.get(v, v) for v in order}))
    else:
        sec.add(Paragraph(f"No traces were given for {name}.", "warning"))
    if ev.gradcheck is not None:
        rows = ev.gradcheck[ev.gradcheck["experiment"] == name]
        if len(rows):
            sec.add(
                _gradcheck_table(
                    rows,
                    "Backpropagation against central differences for this experiment "
                    "(validation stage): largest errors over every checked weight and bias "
                    "entry, and over random whole-network directions.",
                )
            )
        else:
            sec.add(Paragraph("The validation stage checked no run of this experiment.", "note"))
    # The worked example is found by the experiment's data set, not by its name.
    reference = ev.reference_of(name)
    if reference is not None:
        sec.add(
            *references_for(
                ev,
                reference,
                f"The worked example {name} reproduces: its published numbers against the "
                f"engine's (validation stage).",
            )
        )
    for kind in spec.get("figures", {}):
        png, record = figures.get((name, kind), (None, None))
        if png is None:
            sec.add(Paragraph(f"Figure {kind} was not given to the report.", "warning"))
            continue
        sec.add(
            Figure(
                title=FIGURE_KINDS[kind].title,
                png=png,
                href_png=os.path.relpath(png, report_dir),
                href_pdf=os.path.relpath(png.with_suffix(".pdf"), report_dir),
                caption=record["caption"],
                anchor=f"fig-{name}-{kind}",
            )
        )
    return sec


def _references_table(rows: pd.DataFrame, caption: str) -> Table:
    """The validation stage's published-against-computed rows."""
    table = Table(
        ["reference", "quantity", "reading", "published", "computed", "difference",
         "rounding band", "conditioning", "verdict"],
        numeric=[False, False, False, True, True, True, False, False, False],
        caption=caption,
    )  # fmt: skip
    for row in rows.itertuples():
        table.rows.append(
            [
                row.reference,
                row.quantity,
                row.reading,
                row.published or "n/a",
                f"{row.computed:.10g}",
                fmt(row.difference, 3),
                band_text(row),
                row.conditioning,
                verdict_text(row),
            ]
        )
    return table


def references_for(ev: Evidence, name: str, caption: str) -> list:
    """The worked-example table of one reference (an experiment or a seed), if any."""
    rows = ev.reference(name)
    return [] if rows is None else [_references_table(rows, caption)]


def _validation(ev: Evidence, summary_path) -> Section:
    sec = Section("Validation", "validation")
    if ev.gradcheck is None:
        sec.add(
            Paragraph("The validation stage's outputs were not given to this report.", "warning")
        )
        return sec
    g = ev.gradcheck
    verdict = (
        "every check passes"
        if g["passed"].all()
        else (f"{int((~g['passed']).sum())} of {len(g)} checks FAIL")
    )
    sec.add(
        Paragraph(
            f"Backpropagation against central differences, {len(g)} checks: {verdict}. "
            "The report is built only after this stage succeeds."
        )
    )
    sec.add(_gradcheck_table(g, "Every experiment's gradient checks."))
    f = ev.seed_formulas
    if f is not None and len(f):
        table = Table(
            ["formula", "seed", "what is wrong", "caught by the check", "largest relative error"],
            numeric=[False, False, False, False, True],
        )
        for name, rows in f.groupby("formula", sort=False):
            table.rows.append(
                [
                    name,
                    str(rows["seed_document"].iloc[0]),
                    str(rows["description"].iloc[0]),
                    "yes" if not rows["passed"].all() else "no",
                    fmt(rows["max_rel_error"].max(), 3),
                ]
            )
        table.caption = (
            "The seeds' own gradient formulas, checked the same way; a caught formula is "
            "the expected outcome."
        )
        sec.add(table)
    if ev.references is not None and len(ev.references):
        sec.add(
            _references_table(
                ev.references,
                "Worked examples: published numbers against the engine's (agreement within "
                "half a unit of the last printed digit).",
            )
        )
    if summary_path:
        sec.add(Code(Path(summary_path).read_text(), "results/validation/summary.md:"))
    return sec


def _numerics_text(used: dict | None) -> str:
    if not used:
        return "not recorded"
    return (
        f"{used['profile']} (OpenBLAS {used['blas_kernel']} kernels, numpy "
        f"{'+'.join(used['numpy_dispatch']) or 'baseline'} loops, "
        f"{used['blas_threads']} BLAS thread)"
    )


def _provenance(spec: dict, runs_files: list[Path]) -> Section:
    table = Table(["item", "value"])
    table.rows.append(["python", platform.python_version()])
    for name in _PACKAGES:
        try:
            table.rows.append([name, version(name)])
        except PackageNotFoundError:
            table.rows.append([name, "not installed"])
    table.rows.append(["config hash", spec["config_hash"]])
    table.rows.append(["git commit (report)", _git_state()])
    commits = sorted(
        {
            traces.read_metadata(p).get("provenance", {}).get("git_commit", "unknown")
            for p in runs_files
        }
    )
    table.rows.append(["git commit(s) of the traces", ", ".join(commits) or "\u2013"])
    used = sorted(
        {
            _numerics_text(traces.read_metadata(p).get("provenance", {}).get("numerics"))
            for p in runs_files
        }
    )
    table.rows.append(["numerics of the traces", "; ".join(used) or "\u2013"])
    table.caption = (
        "What made this report: package versions, the hash of the validated config, the "
        "commit of the workflow (and of the code that wrote the traces), and the numerics "
        "profile and kernels that computed the traces (canonical: the same bits on every "
        "x86-64 CPU with AVX2 and FMA)."
    )
    return Section("Provenance", "provenance", [table])


# -- the whole report -----------------------------------------------------------------


def build(spec: dict, inputs: dict, report_dir: Path) -> Document:
    """The report as a :class:`~.document.Document` (see :func:`.job.report`)."""
    config = dict(spec["config"])
    labels = spec["labels"]
    if "order" in spec:  # the config's order (params arrive with sorted keys)
        experiments = config["experiments"]
        config["experiments"] = {
            name: {
                **experiments[name],
                "figures": {k: experiments[name].get("figures", {})[k] for k in kinds},
            }
            for name, kinds in spec["order"]
        }
    runs_files = _by_experiment(inputs["runs"])
    metrics_files = _by_experiment(inputs["metrics"])
    runs = {e: _read(p) for e, p in runs_files.items()}
    metrics = {e: _read(p) for e, p in metrics_files.items()}
    figures = {}
    for path in map(Path, inputs.get("figures", [])):
        record = json.loads(path.read_text())
        figures[(record["experiment"], record["figure"])] = (path.with_suffix(".png"), record)
    ev = Evidence(
        config=config,
        runs=runs,
        metrics=metrics,
        facts={k: v[1] for k, v in figures.items()},
        gradcheck=_optional(inputs.get("gradcheck")),
        references=_optional(inputs.get("references")),
        seed_formulas=_optional(inputs.get("seed_formulas")),
    )
    doc = Document("backprop-lab: figures and numbers")
    doc.intro += [
        Paragraph(
            "Every figure of the four seed documents regenerated from the pipeline's "
            "Parquet traces, with the numbers behind them, the gradient checks, and what "
            "each seed claimed against what was measured. Tables give the mean \u00b1 "
            "standard deviation over seeds."
        ),
        Link(
            "timings.html",
            "timings.html",
            "Wall time per stage: ",
            " (kept apart so that this page is identical across reruns).",
        ),
        Link("summary.md", "summary.md", "The same tables in Markdown: ", "."),
    ]
    doc.sections.append(_overview(config, runs))
    experiments = config["experiments"]
    by_seed = defaultdict(list)
    for name, exp in experiments.items():
        by_seed[exp.get("reproduces", "")].append(name)
    for seed in sorted(s for s in by_seed if s):
        sec = Section(SEED_TITLES.get(seed, f"Seed {seed}"), f"seed-{seed}")
        for name in by_seed[seed]:
            sec.add(
                _experiment(
                    name, experiments[name], config, figures, ev, report_dir, labels.get(name, {})
                )
            )
        blocks = seed_blocks(seed, ev)
        sec.add(Section(f"Seed {seed} against this pipeline", f"seed-{seed}-vs-ours", blocks))
        doc.sections.append(sec)
    if by_seed.get(""):
        sec = Section("Beyond the seeds", "beyond")
        for name in by_seed[""]:
            sec.add(
                _experiment(
                    name, experiments[name], config, figures, ev, report_dir, labels.get(name, {})
                )
            )
        doc.sections.append(sec)
    doc.sections.append(_validation(ev, inputs.get("validation_summary")))
    doc.sections.append(_provenance(spec, [p for ps in runs_files.values() for p in ps]))
    return doc
