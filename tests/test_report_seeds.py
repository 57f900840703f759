"""The report's seed-against-ours findings pick their experiments by what they reproduce,
record or vary, never by name: renaming every experiment and data set of the default
config changes nothing but the names in the findings, a finding whose experiment is
absent reads "not measured", and the worked-example table follows the data set."""

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backproplab import config as cfg
from backproplab.report.document import Paragraph
from backproplab.report.seeds import Evidence, Selector, seed_blocks
from backproplab.report.tables import Table

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ("000", "001", "002", "003")

# Figure facts the findings read, of the shape the figure rules write (a few numbers).
_FACTS = {
    "gradient_flow": {
        "layers": [
            {"layer": k, "weight_norm": 5.0 + k, "grad_norm": 0.001 * (k + 1)} for k in range(3)
        ]
    },
    "ulp_fanout": {
        "ulps": 1,
        "unperturbed_copy_reproduces_trace": True,
        "max_relative_difference": {"100": 1e-9, "200": 0.25},
        "nudged": [[0, 0], [0, 1], [0, 2]],
    },
    "network_diagram": {
        "weights_after": [0.1 + 0.05 * k for k in range(8)],
        "loss_before": 0.298371109,
        "loss_after": 0.291027924,
    },
}


@pytest.fixture(scope="module")
def config():
    return cfg.validate(cfg.load(ROOT / "config" / "config.yaml"))


def _runs(spec: dict) -> pd.DataFrame:
    """One row per variant, learning rate and seed, with made-up final metrics that do
    not depend on the experiment's name."""
    variants = list(spec.get("variants") or {}) or ["base"]
    rows = []
    for v, variant in enumerate(variants):
        for lr in spec["learning_rates"]:
            for s, seed in enumerate(spec["seeds"]):
                x = 0.01 * (1 + v + s) / (1 + lr)
                rows.append(
                    {
                        "run_id": f"{variant}/lr={lr}/seed={seed}",
                        "variant": variant,
                        "lr": float(lr),
                        "seed": seed,
                        "status": "ok",
                        "diverged_epoch": np.nan,
                        "epochs": spec["train"]["epochs"],
                        "final_loss": x,
                        "final_mse": x / 2,
                        "final_accuracy": 1.0 - x,
                        "final_test_accuracy": 0.9 - x,
                    }
                )
    return pd.DataFrame(rows)


def _metrics(runs: pd.DataFrame) -> pd.DataFrame:
    epochs = np.array([0, *range(99, 1000, 100)])
    return pd.concat(
        pd.DataFrame(
            {"run_id": r, "epoch": epochs, "loss": 1 / (1 + epochs), "accuracy": epochs / 999}
        )
        for r in runs["run_id"]
    )


def _facts(spec: dict) -> dict:
    facts = {k: {"facts": v} for k, v in _FACTS.items() if k in spec["figures"]}
    if "loss_comparison" in spec["figures"]:
        variants = {
            name: {"loss_name": f"loss{k}", "final_own_loss_seed": 0.1 * (k + 1),
                   "final_mse_mean": 0.3 - 0.1 * k}
            for k, name in enumerate(spec["variants"])
        }  # fmt: skip
        facts["loss_comparison"] = {
            "facts": {"seed": 2, "lr": 0.2, "metric": "mse", "variants": variants}
        }
    return facts


def _evidence(config: dict, drop=()) -> Evidence:
    """Made-up evidence for every experiment of ``config`` but those in ``drop``."""
    config = copy.deepcopy(config)
    for name in drop:
        del config["experiments"][name]
    runs = {n: _runs(s) for n, s in config["experiments"].items()}
    facts = {
        (n, kind): f for n, s in config["experiments"].items() for kind, f in _facts(s).items()
    }
    return Evidence(
        config=config, runs=runs, metrics={n: _metrics(r) for n, r in runs.items()}, facts=facts
    )


def _renamed(ev: Evidence, experiments: dict, datasets: dict) -> Evidence:
    """``ev`` with its experiments and data sets renamed (same evidence, same order)."""
    config = copy.deepcopy(ev.config)
    config["datasets"] = {datasets.get(n, n): d for n, d in config["datasets"].items()}
    config["experiments"] = {
        experiments[n]: {**s, "dataset": datasets[s["dataset"]]}
        for n, s in config["experiments"].items()
    }
    return Evidence(
        config=config,
        runs={experiments[n]: r for n, r in ev.runs.items()},
        metrics={experiments[n]: m for n, m in ev.metrics.items()},
        facts={(experiments[n], k): f for (n, k), f in ev.facts.items()},
    )


def _text(ev: Evidence) -> str:
    """Every finding of every seed document as plain text, one cell or caption a line."""
    lines = []
    for seed in SEEDS:
        for block in seed_blocks(seed, ev):
            if isinstance(block, Table):
                lines += [block.caption] + [" | ".join(row) for row in block.rows]
            elif isinstance(block, Paragraph):
                lines.append(block.text)
    return "\n".join(lines)


def _rows(ev: Evidence, seed: str) -> dict[str, list[str]]:
    """The findings table of one seed document, by topic."""
    table = [b for b in seed_blocks(seed, ev) if isinstance(b, Table)][-1]
    return {row[0]: row for row in table.rows}


def test_renaming_every_experiment_changes_only_the_names(config):
    ev = _evidence(config)
    experiments = {n: f"x{k:02d}q" for k, n in enumerate(config["experiments"])}
    datasets = {n: f"d{k:02d}q" for k, n in enumerate(config["datasets"])}
    original, renamed = _text(ev), _text(_renamed(ev, experiments, datasets))
    assert "not measured" not in original  # every finding reads an experiment
    back = renamed
    for old, new in [*experiments.items(), *datasets.items()]:
        back = back.replace(new, old)
    assert back == original
    # The findings name the experiments they read, under their new names...
    for cited in ("spiral_legacy", "spiral_seeds", "encoder_seeds", "moons", "mazur"):
        assert f"{experiments[cited]}:" in renamed
    assert f"datasets.{datasets['moons']}.split_seed" in renamed
    # ...and no old name is left (moons, digits and xor are words of the seeds' prose
    # too: only cited as config keys or evidence do they count).
    for old in [*experiments, *datasets]:
        pattern = rf"\b{old}\b" if "_" in old else rf"\b{old}(?=[.:])"
        assert not re.search(pattern, renamed), old


@pytest.mark.parametrize(
    ("seed", "topic", "drop"),
    [
        ("000", "initial parameters", ["encoder_seeds", "encoder_weights"]),
        ("000", "learning rate", ["encoder_lr"]),
        ("000", "comparing the two options", ["encoder_compare"]),
        ("001", "matching the later digits", ["spiral_legacy"]),
        ("001", "one run as evidence", ["spiral_seeds"]),
        ("002", "initialisation", ["moons"]),
        ("003", "the worked example it cites", ["mazur"]),
        ("003", "training", ["seed003_online"]),
    ],
)
def test_a_finding_without_its_experiment_is_not_measured(config, seed, topic, drop):
    full = _rows(_evidence(config), seed)
    rows = _rows(_evidence(config, drop), seed)
    assert "not measured" not in full[topic][2]
    assert "not measured: this config has no seed-" in rows[topic][2]
    assert not any(name in rows[topic][3] for name in drop)
    # The findings that did not cite the dropped experiment are unchanged.
    cites = re.compile("|".join(rf"\b{n}[.:]" for n in drop))
    others = {t: r for t, r in full.items() if not cites.search(" ".join(r))}
    assert topic not in others and others
    assert {t: rows[t] for t in others} == others


def test_several_matches_pick_the_first_in_config_order(config):
    # Without encoder_seeds, encoder_weights is the seed-000 experiment that varies only
    # the seed; moved ahead of it, it is read even with encoder_seeds present.
    assert _rows(_evidence(config, ["encoder_seeds"]), "000")["initial parameters"][3].startswith(
        "encoder_weights:"
    )
    config = copy.deepcopy(config)
    first = {"encoder_weights": config["experiments"].pop("encoder_weights")}
    config["experiments"] = first | config["experiments"]
    row = _rows(_evidence(config), "000")["initial parameters"]
    assert row[3].startswith("encoder_weights:")


def test_selectors_read_the_spec_and_the_runs(config):
    ev = _evidence(config)
    assert ev.select(Selector("001", rng="numpy_legacy")) == "spiral_legacy"
    assert ev.select(Selector("001", seeds="several")) == "spiral_seeds"
    assert ev.select(Selector("000", variants="several")) == "encoder_compare"
    assert ev.select(Selector("003", generator="seed003_table")) == "seed003_online"
    assert ev.select(Selector("002", figure="ulp_fanout")) is None
    # Variants are counted from the runs table: an experiment without one never matches.
    del ev.runs["encoder_compare"]
    assert ev.select(Selector("000", variants="several")) is None
    assert str(Selector("000", variants="one", learning_rates="several")) == (
        "seed-000 experiment with one variant and several learning rates"
    )


def test_the_worked_example_follows_the_data_set_not_the_name(config):
    ev = _evidence(config)
    experiments = {n: f"x{k:02d}q" for k, n in enumerate(config["experiments"])}
    datasets = {n: f"d{k:02d}q" for k, n in enumerate(config["datasets"])}
    renamed = _renamed(ev, experiments, datasets)
    assert renamed.reference_of(experiments["mazur"]) == "mazur"
    assert renamed.reference_of(experiments["encoder_seeds"]) is None
    assert ev.reference_of("mazur") == "mazur" and ev.reference_of("moons") is None
