"""The report's page: its sections, built from the traces, the figures' JSON and the
validation stage's tables, as a :class:`~.document.Document` (``job`` renders it).

Per experiment the report gives what it is and which seed it reproduces, then its
results (a table of final metrics per variant and learning rate, its figures with
captions, its gradient checks and worked example), and last its config, collapsed; per
seed document it sets what the seed claimed or printed beside what the pipeline
measured. The validation section renders the validation stage's summary
(:func:`~backproplab.gradcheck.summary.summary_parts`) as tables, from its Parquet
tables. Everything comes from the traces, the figures' JSON and the validation stage's
tables; nothing time- or host-dependent is written, so that the same inputs give the
same bytes (wall times live on the separate timings page).
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
from ..gradcheck.summary import Verdict, gradcheck_table, reference_tables, summary_parts
from .document import (
    Details,
    Document,
    Figure,
    Link,
    Paragraph,
    Section,
)
from .seeds import SEED_TITLES, Evidence, seed_blocks
from .tables import Table, final_metrics

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
    frames = [traces.read_frame(p) for p in sorted(paths)]
    frame = pd.concat(frames, ignore_index=True)
    categorical = frame.select_dtypes("category").columns
    return frame.astype({c: str for c in categorical})


def _optional(path) -> pd.DataFrame | None:
    return traces.read_frame(path) if path else None


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
                name + (f" ({spec['label']})" if spec.get("label") else ""),
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


def _config_hashes(runs_files) -> dict[str, str]:
    """Training job (block) -> the config hash its trace files hold: their
    ``backproplab.provenance.config_hash``, the digest of their ``backproplab.block``."""
    hashes = {}
    for path in sorted(runs_files):
        meta = traces.read_metadata(path)
        hashes[meta["block"]["block"]] = meta["provenance"]["config_hash"]
    return hashes


def _with_hashes(text: str, hashes: dict[str, str]) -> str:
    """An experiment's config YAML with its training jobs' config hashes as comments."""
    if not hashes:
        return text
    lines = [
        "# config_hash of each training job, as its trace files' metadata holds it",
        "# (backproplab.provenance.config_hash): the first 16 hex digits of the SHA-256",
        "# of the canonical JSON of the job's spec (their backproplab.block)",
        *(f"#   {block}: {digest}" for block, digest in hashes.items()),
    ]
    return text + "\n".join(lines) + "\n"


def _experiment(
    name, spec, config, figures, ev: Evidence, report_dir, labels, hashes=None
) -> Section:
    """One experiment: what it is, then its results (final metrics, figures, gradient
    checks, worked example), then its config, collapsed, with the config hash of each of
    its training jobs (``hashes``: block -> hash, as its traces hold them)."""
    runs, metrics = ev.runs.get(name), ev.metrics.get(name)
    title = f"Experiment {name}" + (f": {spec['label']}" if spec.get("label") else "")
    sec = Section(title, f"exp-{name}", contents=name)
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
    if runs is not None:
        order = {v: k for k, v in enumerate(dict.fromkeys(runs["variant"]))}
        runs = runs.assign(variant_index=runs["variant"].map(order))
        sec.add(final_metrics(runs, metrics, {v: labels.get(v, v) for v in order}))
    else:
        sec.add(Paragraph(f"No traces were given for {name}.", "warning"))
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
    if ev.gradcheck is not None:
        rows = ev.gradcheck[ev.gradcheck["experiment"] == name]
        if len(rows):
            sec.add(
                gradcheck_table(
                    rows,
                    "Backpropagation against central differences for this experiment "
                    "(validation stage): largest errors over every checked weight and bias "
                    "entry, and over random whole-network directions.",
                    experiment=False,
                    labels={name: labels},
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
    sec.add(
        Details(
            "Its config, with every default filled in (YAML), and its config hashes",
            _with_hashes(_yaml(name, spec), hashes or {}),
        )
    )
    return sec


def references_for(ev: Evidence, name: str, caption: str) -> list:
    """The worked-example tables of one reference (an experiment or a seed), if any,
    the first captioned ``caption``."""
    rows = ev.reference(name)
    if rows is None:
        return []
    blocks = [b if isinstance(b, Table) else Paragraph(b) for b in reference_tables(rows)]
    first = next((b for b in blocks if isinstance(b, Table)), None)
    if first is not None:
        first.caption = f"{caption} {first.caption}"
    return blocks


def _validation_blocks(blocks) -> list:
    """The validation summary's blocks as the report's."""
    out = []
    for block in blocks:
        if isinstance(block, Verdict):
            out.append(Paragraph(block.text + block.detail, "pass" if block.passed else "fail"))
        elif isinstance(block, Table):
            out.append(block)
        else:
            out.append(Paragraph(block))
    return out


def _validation(ev: Evidence, labels: dict) -> Section:
    sec = Section("Validation", "validation")
    g, f, r = ev.gradcheck, ev.seed_formulas, ev.references
    if g is None or f is None or r is None:
        sec.add(
            Paragraph("The validation stage's outputs were not given to this report.", "warning")
        )
        return sec
    sec.add(
        Paragraph(
            "The validation stage's summary (results/validation/summary.md), from its "
            "tables: backpropagation against central differences, the seeds' own gradient "
            "formulas and the worked examples. The report is built only after this stage "
            "succeeds."
        )
    )
    for part in summary_parts(g, f, r, collapse=(), labels=labels):
        sub = Section(part.title, f"validation-{part.anchor}", _validation_blocks(part.blocks))
        sub.add(*(Paragraph(f"Note: {n}", "note") for n in part.notes))
        sec.add(sub)
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
    table.rows.append(
        [
            "config hash",
            "one per training job, listed under each experiment's config: the hash its "
            "trace files hold (backproplab.provenance.config_hash), of the job's spec "
            "(backproplab.block)",
        ]
    )
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
        "What made this report: package versions, the config hashes of the traces, the "
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
            "standard deviation over seeds, the spread only where it shows above the "
            "printed digits; each column of numbers is in one format."
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

    def experiment_section(name: str):
        return _experiment(
            name,
            experiments[name],
            config,
            figures,
            ev,
            report_dir,
            labels.get(name, {}),
            _config_hashes(runs_files.get(name, [])),
        )

    for seed in sorted(s for s in by_seed if s):
        sec = Section(SEED_TITLES.get(seed, f"Seed {seed}"), f"seed-{seed}")
        for name in by_seed[seed]:
            sec.add(experiment_section(name))
        blocks = seed_blocks(seed, ev)
        sec.add(Section(f"Seed {seed} against this pipeline", f"seed-{seed}-vs-ours", blocks))
        doc.sections.append(sec)
    if by_seed.get(""):
        sec = Section("Beyond the seeds", "beyond")
        for name in by_seed[""]:
            sec.add(experiment_section(name))
        doc.sections.append(sec)
    doc.sections.append(_validation(ev, labels))
    doc.sections.append(_provenance(spec, [p for ps in runs_files.values() for p in ps]))
    return doc
