"""Seed against ours: what each seed document claimed or printed, what the pipeline
measured, and where a seed's math was wrong, with the evidence.

The seeds' statements are quoted here (they are fixed texts); every number on the
pipeline's side is read from the traces, the figures' JSON facts or the validation
stage's tables at report time. A finding names no experiment: it reads the one a
:class:`Selector` picks by what it reproduces, records or varies (the first such
experiment in config order), names that experiment in its text, and, when the config
has none, says what it would have read instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from ..verdicts import band_text, computed_text, verdict_text
from .document import Paragraph
from .tables import Table, convergence_epochs, fmt

__all__ = ["REFERENCE_OF_GENERATOR", "SEED_TITLES", "Evidence", "Selector", "seed_blocks"]

SEED_TITLES = {
    "000": "Seed 000: the 8-3-8 encoder notebook",
    "001": "Seed 001: backpropagation from scratch on two spirals",
    "002": "Seed 002: a neural network from scratch on two moons",
    "003": "Seed 003: the step-by-step backpropagation example",
}

# The validation stage's worked example (validation.references) whose published numbers
# an experiment reproduces, by the generator of its data set: the reference is computed
# from the same problem, whatever the experiment or its data set is called.
REFERENCE_OF_GENERATOR = {"worked_example": "mazur"}

_FINDING_COLUMNS = ["topic", "the seed", "this pipeline", "evidence"]

Count = Literal["one", "several"]


@dataclass(frozen=True)
class Selector:
    """Which experiment of the config a finding reads: by the seed document it
    reproduces and by what it records or varies, never by its name.

    Attributes
    ----------
    reproduces : str
        Its ``reproduces`` ("000".."003").
    generator : str, optional
        The generator of its data set.
    rng : str, optional
        Its ``rng``.
    init : str, optional
        The name of its ``model.init``.
    variants, learning_rates, seeds : {"one", "several"}, optional
        How many variants it trained (read from its runs table, since list-valued model
        keys make variants too), learning rates and seeds it has.
    figure : str, optional
        A figure kind it draws.
    """

    reproduces: str
    generator: str | None = None
    rng: str | None = None
    init: str | None = None
    variants: Count | None = None
    learning_rates: Count | None = None
    seeds: Count | None = None
    figure: str | None = None

    def __str__(self) -> str:
        """The selector in words, for the findings of a config that has no match."""
        text = f"seed-{self.reproduces} experiment"
        if self.generator:
            text += f" on the {self.generator} generator"
        if self.init:
            text += f" initialised {self.init}"
        having = [f"rng {self.rng}"] if self.rng else []
        having += [
            f"{n} {what if n == 'one' else what + 's'}"
            for n, what in (
                (self.variants, "variant"),
                (self.learning_rates, "learning rate"),
                (self.seeds, "seed"),
            )
            if n
        ]
        having += [f"the {self.figure} figure"] if self.figure else []
        if having:
            text += " with " + ", ".join(having[:-1]) + (" and " if len(having) > 1 else "")
            text += having[-1]
        return text


def _count_matches(wanted: Count | None, n: int | None) -> bool:
    if wanted is None:
        return True
    if n is None:  # not known (no runs table): cannot be the experiment asked for
        return False
    return n == 1 if wanted == "one" else n > 1


def _variants(runs: pd.DataFrame | None) -> int | None:
    """How many variants a runs table holds (``None`` without one)."""
    return None if runs is None else runs["variant"].nunique()


def _init_name(spec: dict) -> str | None:
    init = spec.get("model", {}).get("init")
    return init.get("name") if isinstance(init, dict) else init


@dataclass
class Evidence:
    """Everything the findings may cite, by experiment name; ``config`` holds the
    experiments in the config's order, which :meth:`select` follows."""

    config: dict
    runs: dict[str, pd.DataFrame] = field(default_factory=dict)
    metrics: dict[str, pd.DataFrame] = field(default_factory=dict)
    facts: dict[tuple[str, str], dict] = field(default_factory=dict)
    gradcheck: pd.DataFrame | None = None
    references: pd.DataFrame | None = None
    seed_formulas: pd.DataFrame | None = None

    def has(self, *experiments: str) -> bool:
        return all(e in self.runs for e in experiments)

    def fact(self, experiment: str, kind: str) -> dict | None:
        record = self.facts.get((experiment, kind))
        return None if record is None else record.get("facts")

    def spec(self, experiment: str) -> dict:
        """The experiment's config entry (defaults filled in)."""
        return self.config.get("experiments", {}).get(experiment, {})

    def generator(self, experiment: str) -> str | None:
        """The generator of the experiment's data set."""
        dataset = self.config.get("datasets", {}).get(self.spec(experiment).get("dataset"))
        return None if dataset is None else dataset.get("generator")

    def matches(self, experiment: str, selector: Selector) -> bool:
        """Whether the experiment is one that ``selector`` asks for."""
        spec = self.spec(experiment)
        runs = self.runs.get(experiment)
        return (
            str(spec.get("reproduces", "")) == selector.reproduces
            and selector.generator in (None, self.generator(experiment))
            and selector.rng in (None, spec.get("rng"))
            and selector.init in (None, _init_name(spec))
            and selector.figure in (None, *spec.get("figures", {}))
            and _count_matches(selector.variants, _variants(runs))
            and _count_matches(selector.learning_rates, len(spec.get("learning_rates", [])))
            and _count_matches(selector.seeds, len(spec.get("seeds", [])))
        )

    def select(self, selector: Selector) -> str | None:
        """The first experiment, in config order, that ``selector`` asks for (``None``
        if the config has none): one finding reads one experiment, the same on every
        rebuild."""
        experiments = self.config.get("experiments", {})
        return next((e for e in experiments if self.matches(e, selector)), None)

    def reference_of(self, experiment: str) -> str | None:
        """The worked example (``validation.references`` key) the experiment reproduces,
        if any (see :data:`REFERENCE_OF_GENERATOR`)."""
        return REFERENCE_OF_GENERATOR.get(self.generator(experiment))

    def formulas(self, seed: str) -> pd.DataFrame | None:
        f = self.seed_formulas
        if f is None or "seed_document" not in f.columns:
            return None
        rows = f[f["seed_document"].astype(str) == seed]
        return rows if len(rows) else None

    def reference(self, name: str) -> pd.DataFrame | None:
        r = self.references
        if r is None or "reference" not in r.columns:
            return None
        rows = r[r["reference"] == name]
        return rows if len(rows) else None

    def published(self, name: str) -> dict | None:
        """The published numbers of a worked example, from the config's validation stage."""
        return self.config.get("validation", {}).get("references", {}).get(name)


def _not_measured(selector: Selector, experiment: str | None = None, what: str = "") -> str:
    """Why a finding has no number: no experiment matches, or one does but the report
    was not given its traces or figure."""
    if experiment is None:
        return f"not measured: this config has no {selector}"
    return f"not measured: the report was given no {what or 'traces'} of {experiment}"


# A printed number the validation stage did not check (no references row for it).
_NOT_CHECKED = "not checked: the references table has no row for it"

_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _count(n: int) -> str:
    """A small count in words, as prose writes it."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else str(n)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _relative(x: float | None) -> str:
    """A relative difference: a percentage from 0.1% up (``+910%``, not ``9.1``), below
    that the fraction itself; a dash for none (a figure's fact of a diverged run)."""
    if x is None or not np.isfinite(x):
        return fmt(x)
    # Two significant digits, never in exponent form: 910%, not 9.1e+02%.
    return f"{float(f'{100 * x:.2g}'):g}%" if abs(x) >= 1e-3 else f"{x:.1e} (relative)"


def _fixed(x: float | None, digits: int) -> str:
    """``x`` with ``digits`` decimals, as a seed prints it; as :func:`fmt` gives a
    missing or non-finite value (a figure's fact of a diverged run is null)."""
    return f"{x:.{digits}f}" if x is not None and np.isfinite(x) else fmt(x)


def _range(values) -> str:
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    return "\u2013" if not len(v) else f"{fmt(v.min(), 3)} to {fmt(v.max(), 3)}"


def _formula_evidence(ev: Evidence, seed: str, needle: str) -> str:
    rows = ev.formulas(seed)
    if rows is None:
        return "validation stage: no seed-formula rows"
    rows = rows[rows["formula"].str.contains(needle, case=False)]
    if rows.empty:
        return f"validation stage: no formula matching {needle!r}"
    caught = not rows["passed"].all() if "passed" in rows else None
    worst = rows["max_rel_error"].max() if "max_rel_error" in rows else np.nan
    text = (
        f"validation stage, formula {rows['formula'].iloc[0]}: largest relative error "
        f"against central differences {fmt(worst, 3)}"
    )
    weights = rows[rows["tensor"] == "W"] if "tensor" in rows else rows
    if "cosine" in rows and len(weights):
        text += f", cosine with the true gradient down to {fmt(weights['cosine'].min(), 3)}"
    if caught is not None:
        text += "; the check flags it" if caught else "; the check does NOT flag it"
    return text


# -- seed 000 --------------------------------------------------------------------------


# The same network from several initialisations, nothing else varied: the finding pools
# all its runs, so a second variant or learning rate would mix other effects in.
_SEEDS_000 = Selector("000", variants="one", learning_rates="one", seeds="several")
# One network at several learning rates: the finding groups by rate alone.
_RATES_000 = Selector("000", variants="one", learning_rates="several")
# The loss_comparison figure draws one learning rate; the finding's accuracies pool the
# experiment's runs, so it must have only that one.
_COMPARISON_000 = Selector("000", learning_rates="one", figure="loss_comparison")


def _initial_parameters(ev: Evidence) -> list[str]:
    name = ev.select(_SEEDS_000)
    if name is None or not ev.has(name):
        ours, evidence = _not_measured(_SEEDS_000, name), ""
    else:
        r = ev.runs[name]
        ok = r[r["status"] == "ok"]
        col = "final_mse" if "final_mse" in r else "final_loss"
        perfect = int((ok["final_accuracy"] >= 1.0).sum())
        ours = (
            f"{len(ok)} of {len(r)} seeds finish; final {col.removeprefix('final_')} "
            f"{_range(ok[col])}; {perfect} of {len(r)} reach 100% accuracy (accuracies "
            f"{', '.join(_pct(a) for a in ok['final_accuracy'])})"
        )
        evidence = f"{name}: final-metrics table, learning curves and hidden code"
    return [
        "initial parameters",
        "five unseeded runs \u201cconverge reliably to similar minima in all runs\u201d",
        ours,
        evidence,
    ]


def _learning_rate(ev: Evidence) -> list[str]:
    name = ev.select(_RATES_000)
    if name is None or not ev.has(name) or name not in ev.metrics:
        ours, evidence = _not_measured(_RATES_000, name), ""
    else:
        r = ev.runs[name]
        conv = convergence_epochs(ev.metrics[name])
        parts = []
        for lr, g in r.groupby("lr"):
            ok = g[g["status"] == "ok"]
            mean_conv = conv.reindex(ok["run_id"]).mean()
            parts.append(
                f"lr {lr:g}: {len(g) - len(ok)}/{len(g)} diverged, final loss "
                f"{fmt(ok['final_loss'].mean(), 3)}, converged by epoch {mean_conv:.0f}"
            )
        ours = "; ".join(parts)
        evidence = f"{name}: final-metrics table, learning curves, final loss against rate"
    return [
        "learning rate",
        "rates 10 to 50 (one unseeded run each): higher rates converge faster, and \u201cin "
        "this test they remained stable\u201d",
        ours,
        evidence,
    ]


def _comparison(ev: Evidence) -> list[str]:
    name = ev.select(_COMPARISON_000)
    facts = None if name is None else ev.fact(name, "loss_comparison")
    if not facts:
        ours, evidence = _not_measured(_COMPARISON_000, name, "loss_comparison figure"), ""
    else:
        v = facts["variants"]
        names = list(v)
        metric = facts["metric"]
        own = ", ".join(
            f"{n} {v[n]['loss_name']} {fmt(v[n]['final_own_loss_seed'], 3)}" for n in names
        )
        common = ", ".join(f"{n} {fmt(v[n][f'final_{metric}_mean'], 3)}" for n in names)
        # A variant whose runs all diverged has no final mean (null): it fits no better.
        finals = {n: v[n][f"final_{metric}_mean"] for n in names}
        judged = [n for n in names if finals[n] is not None and np.isfinite(finals[n])]
        best = min(judged, key=finals.get) if judged else None
        ours = (
            f"own losses at the end (seed {facts['seed']}): {own} (different functions, not "
            f"comparable); on the common metric {metric}, mean over seeds: {common}, so "
            + (
                f"{best} fits better by the measure both can be judged on"
                if best is not None
                else "neither can be judged: no variant has a final value (they diverged)"
            )
        )
        r = ev.runs.get(name)
        if r is not None:
            acc = r.groupby("variant")["final_accuracy"].mean()
            ours += "; final accuracy " + ", ".join(f"{n} {_pct(a)}" for n, a in acc.items())
        evidence = f"{name}: loss comparison figure (own losses beside a common metric)"
    return [
        "comparing the two options",
        "sigmoid/MSE \u201cachieved faster convergence and lower final loss\u201d than "
        "softmax/cross-entropy, read off one axis holding two different losses",
        ours,
        evidence,
    ]


def _seed000(ev: Evidence) -> list:
    rows = [_initial_parameters(ev), _learning_rate(ev), _comparison(ev)]
    rows.append(
        [
            "softmax gradient",
            "get_activation('softmax') returns x(1 \u2212 x) as the derivative",
            "that is only the diagonal of the softmax Jacobian; the seed's runs never use it "
            "(softmax with cross-entropy takes the \u0177 \u2212 y shortcut), but any other loss "
            "on a softmax output would get a wrong gradient",
            _formula_evidence(ev, "000", "softmax"),
        ]
    )
    rows.append(
        [
            "mean squared error gradient",
            "prints mean((y \u2212 \u0177)\u00b2) but back-propagates \u0177 \u2212 y",
            "the gradient of the printed loss is 2(\u0177 \u2212 y)/(m k): the seed's step is "
            "k/2 = 4 times the mse step, i.e. it descends half the summed squared error; "
            "the encoder experiments train half_sse and record mse beside it",
            _formula_evidence(ev, "000", "mse"),
        ]
    )
    rows.append(
        [
            "reproducibility",
            "np.random.randn without a seed: every rerun draws other weights",
            "each run draws from its own stream derived from its seed alone, so every curve "
            "here is regenerated bit for bit by rerunning the workflow",
            "the runs table (seed, rng) and the trace provenance",
        ]
    )
    why = Paragraph(
        "Why one axis for two losses misleads: half the summed squared error of sigmoid "
        "outputs and the cross-entropy of softmax outputs are different functions of the "
        "same predictions, on different scales. Cross-entropy keeps charging -log p for "
        "every bit of missing confidence in the right class, while squared error flattens "
        "out as outputs approach their targets, so the squared-error curve lies lower "
        "whichever network predicts better. Only a quantity computed the same way for "
        "both (here the mean squared error of the outputs, recorded for every run) can "
        "rank them; the seed's conclusion rests on the comparison that cannot.",
        "note",
    )
    return [Table(_FINDING_COLUMNS, rows, "Seed 000 against this pipeline."), why]


# -- seed 001 --------------------------------------------------------------------------


# The notebook's own run, regenerated bit for bit: its data and weights drawn from
# RandomState in the notebook's order. Its printed log, gradient printout and digits are
# compared with this run only (another stream draws other weights).
_NOTEBOOK_001 = Selector("001", rng="numpy_legacy")
_FLOW_001 = Selector("001", rng="numpy_legacy", figure="gradient_flow")
_FANOUT_001 = Selector("001", rng="numpy_legacy", figure="ulp_fanout")
# The config key that names the notebook's initialisation rule.
_INIT_001 = Selector("001", init="lecun_normal")
# The same network over several seeds, nothing else varied (the finding pools its runs).
_SEEDS_001 = Selector("001", variants="one", learning_rates="one", seeds="several")


def _log_table(ev: Evidence, log: list, checked: dict) -> Table | None:
    """The notebook's printed log beside its regenerated run, if the config has it."""
    name = ev.select(_NOTEBOOK_001)
    if not log or name is None or not ev.has(name) or name not in ev.metrics:
        return None
    m = ev.metrics[name]
    base = m[m["run_id"] == ev.runs[name]["run_id"].iloc[0]].set_index("epoch")
    table = Table(
        [
            "printed epoch",
            "seed loss",
            "seed accuracy",
            "our epoch",
            "our loss",
            "our accuracy",
            "rounding band of the loss",
            "verdict",
        ],
        numeric=[True] * 6 + [False, False],
    )
    for row in log:
        # "Epoch k" is printed after the k-th loop iteration, before its update.
        e = int(row["epoch"]) - 1
        loss, acc = (
            (base.loc[e, "loss"], base.loc[e, "accuracy"]) if e in base.index else (np.nan, np.nan)
        )
        printed = str(row["loss"])
        decimals = len(printed.split(".")[1]) if "." in printed else 0
        check = checked.get(f"loss at Epoch {row['epoch']}")
        table.rows.append(
            [
                str(row["epoch"]),
                printed,
                str(row["accuracy"]),
                str(e),
                f"{loss:.{decimals + 3}f}",
                f"{acc:.4f}",
                band_text(check) if check else "",
                verdict_text(check) if check else _NOT_CHECKED,
            ]
        )
    table.caption = (
        f"Seed 001's printed training log beside the {name} run (same data, same "
        "initial weights, drawn from RandomState(42) in the notebook's order). The "
        "notebook prints \u201cEpoch k\u201d after computing the loss of its k-th "
        "iteration, before that iteration's update: our epoch k \u2212 1. From about "
        "epoch 120 the run is chaotic at lr 0.5: which digits a machine prints is "
        "decided by rounding (BLAS kernels, libm, operation order), so a printed number "
        "there is checked against its rounding band, the range of the run replayed "
        "from one-ulp nudges of its initial weights (validation.band_nudges), widened "
        "by half a unit of the printed digit. The band's bounds, like our digits there, "
        "are those of this numerics profile's kernels."
    )
    return table


def _gradient_flow(ev: Evidence, published: dict, checked: dict) -> list[str] | None:
    """The notebook's printed gradient analysis against its run's (none if either is
    missing: the row only compares)."""
    name = ev.select(_FLOW_001)
    flow = None if name is None else ev.fact(name, "gradient_flow")
    printed_w = published.get("weight_norms")
    printed_g = published.get("gradient_norms")
    if not (flow and printed_w and printed_g):
        return None
    ours = "; ".join(
        f"layer {lay['layer'] + 1}: weight {_fixed(lay['weight_norm'], 4)}, gradient "
        f"{_fixed(lay['grad_norm'], 6)}"
        for lay in flow["layers"]
    )
    seed = "; ".join(
        f"layer {k + 1}: weight {w}, gradient {g}"
        for k, (w, g) in enumerate(zip(printed_w, printed_g, strict=False))
    )
    magnitudes = [
        r
        for q, r in checked.items()
        if q.startswith("layer ") and q.endswith(" magnitude") and r.check == "band"
    ]
    if magnitudes:
        inside = sum(r.passes for r in magnitudes)
        ours += (
            f". Chaotic, like the log after epoch 120: {inside} of {len(magnitudes)} "
            f"printed magnitudes lie inside their rounding bands ("
            + "; ".join(f"{r.quantity}: {band_text(r)}" for r in magnitudes)
            + ")"
        )
    return [
        "gradient flow after training",
        seed,
        ours,
        f"{name}: gradient-flow figure (epoch 1000); references table",
    ]


def _fanout(ev: Evidence) -> list[str]:
    name = ev.select(_FANOUT_001)
    fan = None if name is None else ev.fact(name, "ulp_fanout")
    if not fan:
        return [
            "matching the later digits",
            "the printed log",
            _not_measured(_FANOUT_001, name, "ulp_fanout figure"),
            "",
        ]
    reproduces = "reproduces" if fan["unperturbed_copy_reproduces_trace"] else "does NOT reproduce"
    marks = ", ".join(
        f"{_relative(v)} at epoch {e}"
        for e, v in sorted(fan["max_relative_difference"].items(), key=lambda kv: int(kv[0]))
    )
    return [
        "matching the later digits",
        "the printed log (4 decimals) from one run of the notebook",
        f"moving one first-layer weight by {fan['ulps']} ulp changes the loss by "
        f"{marks} (largest over {len(fan['nudged'])} nudged weights): the run is "
        f"chaotic around epochs 100 to 200, so rounding differences of one ulp "
        f"anywhere (BLAS, summation order, exp) decide the later digits; "
        f"the engine's unperturbed copy {reproduces} the recorded curve bit for bit",
        f"{name}: one-ulp fan-out figure (the figure rule retrains the nudged "
        "copies with the engine)",
    ]


def _initialisation(ev: Evidence) -> list[str]:
    name = ev.select(_INIT_001)
    ours = "sqrt(1/n_in) is LeCun's scaling; Glorot/Xavier is sqrt(2/(n_in + n_out)); "
    ours += (
        "the config names it lecun_normal"
        if name
        else "no seed-001 experiment of this config uses it (lecun_normal)"
    )
    return [
        "initialisation",
        "randn \u00d7 sqrt(1/n_in) for tanh, called \u201cXavier\u201d in a comment",
        ours,
        f"config: {name}.model.init" if name else "",
    ]


def _one_run(ev: Evidence) -> list[str]:
    name = ev.select(_SEEDS_001)
    if name is None or not ev.has(name):
        ours, evidence = _not_measured(_SEEDS_001, name), ""
    else:
        r = ev.runs[name]
        ours = (
            f"over {_count(r['seed'].nunique())} independent seeds: final loss "
            f"{_range(r['final_loss'])}, final accuracy {_range(r['final_accuracy'])}"
        )
        evidence = f"{name}: final-metrics table and learning curves"
    return [
        "one run as evidence",
        "final loss 0.0025 and accuracy 1.0000 from a single seed",
        ours,
        evidence,
    ]


def _seed001(ev: Evidence) -> list:
    published = ev.published("seed001") or {}
    checks = ev.reference("seed001")
    checked = {} if checks is None else {r.quantity: r for r in checks.itertuples()}
    log = _log_table(ev, published.get("log"), checked)
    flow = _gradient_flow(ev, published, checked)
    rows = [flow] if flow else []
    rows += [_fanout(ev), _initialisation(ev), _one_run(ev)]
    table = Table(_FINDING_COLUMNS, rows, "Seed 001 against this pipeline.")
    return [log, table] if log else [table]


# -- seed 002 --------------------------------------------------------------------------


# The seed's literal choices against a sound variant: the findings read its variants.
_VARIANTS_002 = Selector("002", variants="several")


def _moons_initialisation(ev: Evidence, name: str | None) -> list[str]:
    if name is None:
        ours, evidence = _not_measured(_VARIANTS_002), ""
    else:
        parts = []
        for variant, g in ev.runs[name].groupby("variant", sort=False):
            ok = g[g["status"] == "ok"]
            test = (
                f", test accuracy {_range(ok['final_test_accuracy'])}"
                if "final_test_accuracy" in ok
                else ""
            )
            parts.append(
                f"{variant}: final training loss {_range(ok['final_loss'])}{test} over "
                f"{len(g)} seeds ({len(g) - len(ok)} diverged)"
            )
        ours = "; ".join(parts)
        evidence = f"{name}: final-metrics table, decision boundaries, predictions"
    return [
        "initialisation",
        "np.random.normal(-1, 1, ...) for weights and biases, described as \u201cvalues "
        "between -1 and 1\u201d",
        "normal(-1, 1) has mean \u22121 and standard deviation 1 (a third of its draws lie "
        "outside [\u22121, 1]); the literal variant keeps it, the sound variant uses He "
        "initialisation and zero biases: " + ours,
        evidence,
    ]


def _seed002(ev: Evidence) -> list:
    # Selecting by variants needs the runs table, so a selected experiment has one.
    name = ev.select(_VARIANTS_002)
    split_seed = None if name is None else f"datasets.{ev.spec(name)['dataset']}.split_seed"
    seeded = split_seed or "the split_seed of its data set"
    rows = [
        [
            "hidden-layer delta",
            "da_i = sum over the next layer's per-sample weight gradients "
            "(np.sum(dweights[i+1], axis=-2))",
            "the chain rule needs da = W\u1d40 dz of the next layer; the seed's quantity is "
            "a_i \u00b7 \u03a3_j dz_j / m, which ignores the weights entirely; both moons "
            "variants here use correct gradients",
            _formula_evidence(ev, "002", ""),
        ],
        _moons_initialisation(ev, name),
        [
            "gradient clipping",
            "np.nan_to_num then clip every gradient entry to [\u22121, 1]",
            "clipping hides the size of the (wrong) gradient and turns NaN into 0; the literal "
            "variant clips too, the sound variant does not",
            f"config: {name}.variants" if name else "",
        ],
        [
            "reproducibility",
            "train_test_split without random_state and unseeded weights",
            "every rerun of the article trains on another split from other weights; here the "
            f"split is seeded ({seeded}) and the spread over seeds is reported",
            f"{split_seed}; the final-metrics table" if split_seed else "the final-metrics table",
        ],
    ]
    return [Table(_FINDING_COLUMNS, rows, "Seed 002 against this pipeline.")]


# -- seed 003 --------------------------------------------------------------------------


def _agreement(rows: pd.DataFrame | None) -> str:
    """How many published numbers the validation stage reproduced, and which readings
    of the source disagree (and why, in its own note)."""
    if rows is None or "passes" not in rows:
        return "validation stage: no rows"
    required = rows[rows["required"]]
    text = (
        f"validation stage: {int(required['passes'].sum())} of {len(required)} required "
        f"published numbers reproduced"
    )
    for r in rows[~rows["passes"]].itertuples():
        text += (
            f"; {r.quantity} read {r.reading!r}: published {r.published}, computed "
            f"{computed_text(r)} (measured for comparison, not gated)"
            if not getattr(r, "required", True)
            else f"; {r.quantity}: published {r.published}, computed {computed_text(r)}"
        )
    return text


# Mazur's example (the validation.references key of that name is computed from the same
# problem): the run on its data set that draws the network before and after one step.
_WORKED_003 = Selector("003", generator="worked_example", figure="network_diagram")
# Seed 003's own table, trained as the seed meant to.
_TABLE_003 = Selector("003", generator="seed003_table")


def _worked_example(ev: Evidence) -> list[str]:
    mazur = ev.reference("mazur")
    name = ev.select(_WORKED_003)
    diagram = None if name is None else ev.fact(name, "network_diagram")
    published = (ev.published("mazur") or {}).get("weights_after_one_step")
    if not (diagram and published):
        return [
            "the worked example it cites",
            "Mazur's published numbers",
            _not_measured(_WORKED_003, name, "network_diagram figure"),
            _agreement(mazur),
        ]
    ours = ", ".join(f"w{k + 1} {_fixed(w, 9)}" for k, w in enumerate(diagram["weights_after"]))
    return [
        "the worked example it cites",
        "Mazur's weights after one step: "
        + ", ".join(f"w{k + 1} {w}" for k, w in enumerate(published)),
        f"after one step: {ours}; loss {_fixed(diagram['loss_before'], 9)} before, "
        f"{_fixed(diagram['loss_after'], 9)} after",
        _agreement(mazur) + f"; {name}: network diagram figure",
    ]


def _training(ev: Evidence) -> list[str]:
    name = ev.select(_TABLE_003)
    if name is None or not ev.has(name):
        ours, evidence = _not_measured(_TABLE_003, name), ""
    else:
        r = ev.runs[name]
        ours = (
            f"the corrected table trained online for {int(r['epochs'].iloc[0])} epochs: "
            f"final accuracy {', '.join(_pct(a) for a in r['final_accuracy'])} over "
            f"{len(r)} seeds"
        )
        evidence = f"{name}: final-metrics table and learning curves"
    return [
        "training",
        "train_network returns inside its loop after the first sample, a feature reads "
        "396561688 (for 3.396561688), random.seed(1) seeds Python's random and not "
        "NumPy's, and the last cell stops with a TypeError",
        ours,
        evidence,
    ]


def _seed003(ev: Evidence) -> list:
    linear = [
        "the \u201csigmoid\u201d network",
        "defines sigmoid but computes every layer as np.dot(weights, inputs); prints "
        "outputs 0.02421 and 0.0300925",
        "the network is linear: no activation is ever applied; its printed numbers are "
        "those of a linear 2-2-2-2 network with the printed weights",
        _agreement(ev.reference("seed003")),
    ]
    rows = [linear, _worked_example(ev), _training(ev)]
    return [Table(_FINDING_COLUMNS, rows, "Seed 003 against this pipeline.")]


_BUILDERS: dict[str, Callable[[Evidence], list]] = {
    "000": _seed000,
    "001": _seed001,
    "002": _seed002,
    "003": _seed003,
}


def seed_blocks(seed: str, ev: Evidence) -> list:
    """The "seed vs ours" blocks of one seed document (a note if it has none)."""
    builder = _BUILDERS.get(seed)
    if builder is None:
        return [Paragraph(f"No comparison is written for seed document {seed!r}.", "note")]
    return builder(ev)
