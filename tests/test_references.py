"""The references job: worked examples against their published numbers (under both
readings where the source computed a number differently from what it describes), and the
seeds' own gradient formulas, each of which the gradient check must catch."""

import copy

import numpy as np
import pytest

import backproplab as bpl
from backproplab import config as cfg
from backproplab.gradcheck import references as refs
from backproplab.gradcheck import seed_formulas as sf
from backproplab.gradcheck.checks import GradcheckError


@pytest.fixture(scope="module")
def settings(root):
    return cfg.validate(cfg.load(root / "config" / "config.yaml"))["validation"]


@pytest.fixture(scope="module")
def table(settings):
    return refs.compute_references(settings["references"], settings["band_nudges"])


def test_tolerance_is_half_a_unit_in_the_last_printed_digit():
    assert refs.tolerance("0.0972") == pytest.approx(5e-5)
    assert refs.tolerance("0.511301270") == pytest.approx(5e-10)
    assert refs.tolerance("1.0000") == pytest.approx(5e-5)


def test_every_required_number_passes_its_check(table):
    required = table[table.required]
    assert required.passes.all(), required[~required.passes]
    refs.gate(table)
    assert set(table.reference) == {"mazur", "seed003", "seed001"}
    np.testing.assert_allclose(table.difference, table.computed - table.published_value)
    digits = table[table.check == "digits"]
    assert (digits.passes == digits.agrees).all()
    band = table[table.check == "band"]
    tol = band.tolerance
    inside = (band.band_low - tol <= band.published_value) & (
        band.published_value <= band.band_high + tol
    )
    assert (band.passes == inside).all()
    assert ((band.band_low <= band.computed) & (band.computed <= band.band_high)).all()


def _one(table, quantity, reading_prefix):
    rows = table[(table.quantity == quantity) & table.reading.str.startswith(reading_prefix)]
    assert len(rows) == 1, (quantity, reading_prefix)
    return rows.iloc[0]


def test_mazur_figures_are_reproduced_under_the_posts_own_reading(table):
    described = _one(table, "total error after one step", "as described")
    computed = _one(table, "total error after one step", "as computed")
    assert described.computed == pytest.approx(0.29102777, abs=5e-9)  # the true one step
    assert not described.agrees and computed.agrees
    described = _one(table, "total error after 10,000 steps", "as described")
    computed = _one(table, "total error after 10,000 steps", "as computed")
    assert not described.agrees and computed.agrees  # after 9,999 updates


def test_seed001_is_checked_to_its_digits_before_the_chaos_and_by_its_band_after(table):
    """Epoch 100 comes before the chaos sets in: the 32 one-ulp replays agree to 1e-8,
    far inside the printed precision, so the printed digits must match. From about epoch
    120 at lr 0.5, rounding decides the digits; measured bands at epoch 200: 0.027-0.041
    on AVX2 kernels (canonical) and 0.025-0.041 on AVX-512 ones, against a printed
    0.0317 (a tolerance of 5e-5). Every printed number is required either way."""
    seed001 = table[table.reference == "seed001"]
    assert seed001.required.all()
    early = _one(seed001, "loss at Epoch 100", "printed")
    assert early.conditioning == "well conditioned" and early.check == "digits"
    assert early.agrees and early.band_high - early.band_low < 1e-8
    for epoch in (200, 300):
        row = _one(seed001, f"loss at Epoch {epoch}", "printed")
        assert row.conditioning == "chaotic" and row.check == "band"
        assert row.band_high - row.band_low > 10 * row.tolerance
        assert row.passes


def test_nudged_copies_move_one_weight_by_one_ulp_each():
    model = bpl.MLP([2, 3, 1], ["tanh", "sigmoid"], "bce")
    params = model.init([7], "lecun_normal")
    copies = refs.nudged_copies(params, 8)
    W0 = copies[0][0]
    assert W0.shape == (9, 2, 3)
    for layer, (W, b) in enumerate(copies):
        np.testing.assert_array_equal(W[0], params[layer][0][0])
        np.testing.assert_array_equal(b, np.repeat(params[layer][1], 9, axis=0))
    moved = W0[1:] != W0[:1]
    assert (moved.sum(axis=(1, 2)) == 1).all()  # one weight per copy
    ulps = (W0[1:] - W0[:1])[moved] / np.spacing(np.abs(W0[:1].repeat(8, axis=0)[moved]))
    np.testing.assert_array_equal(np.abs(ulps), 1.0)
    np.testing.assert_array_equal(np.sign(ulps), [1, -1] * 4)  # up, then down
    with pytest.raises(ValueError, match="only 9 weights"):
        refs.nudged_copies(params, 19)


def test_a_number_outside_its_rounding_band_fails_the_gate_by_name(settings):
    changed = copy.deepcopy(settings["references"])
    changed["seed001"]["log"][1]["loss"] = "0.0500"  # epoch 200: its band is 0.025-0.041
    table = refs.compute_references(changed, settings["band_nudges"])
    row = _one(table, "loss at Epoch 200", "printed")
    assert row.check == "band" and not row.passes
    with pytest.raises(
        AssertionError, match=r"seed001: loss at Epoch 200 .* outside its rounding band"
    ):
        refs.gate(table)


def test_a_wrong_published_number_fails_the_gate(settings):
    changed = copy.deepcopy(settings["references"])
    changed["mazur"]["error_before"] = "0.298371119"
    table = refs.compute_references(changed, settings["band_nudges"])
    with pytest.raises(AssertionError, match="mazur: total error before"):
        refs.gate(table)


# -- the seeds' gradient formulas ------------------------------------------------------------


@pytest.fixture(scope="module")
def formulas(settings):
    return sf.check_seed_formulas(settings)


def test_the_check_catches_every_seed_formula(formulas):
    assert set(formulas.formula) == {f.name for f in sf.SEED_FORMULAS}
    for name, rows in formulas.groupby("formula"):
        assert not rows.passed.all(), name
    sf.gate(formulas)


def test_seed000_mse_gradient_is_k_over_2_too_long(formulas):
    """Right direction, 4 times too long (k = 8): relative error (4 - 1) / (4 + 1)."""
    rows = formulas[formulas.formula == "seed000_mse_gradient"]
    np.testing.assert_allclose(rows.max_rel_error, 0.6, rtol=1e-6)
    np.testing.assert_allclose(rows.cosine, 1.0, rtol=1e-9)


def test_seed002_is_wrong_in_the_hidden_layers_only(formulas):
    rows = formulas[(formulas.formula == "seed002_hidden_delta") & (formulas.layer >= 0)]
    assert rows[rows.layer == 2].passed.all()  # the output layer is right
    assert not rows[rows.layer < 2].passed.any()
    last_hidden = rows[(rows.layer == 1) & (rows.tensor == "W")]
    assert (last_hidden.cosine < -0.5).all()  # pointing away from the true gradient


def test_seed_formulas_equal_the_engine_where_the_seed_is_right():
    """seed000 without softmax is half_sse's gradient; seed002 on a network with no
    hidden layer has no hidden delta to get wrong."""
    X, Y = np.eye(8), np.eye(8)
    model = bpl.MLP([8, 3, 8], ["sigmoid", "sigmoid"], "half_sse")
    params = model.init([0, 1], {"name": "normal", "mean": 0, "std": 1})
    _, engine = model.loss_and_grads(params, X, Y)
    for (a, b), (c, d) in zip(sf.seed000_grads(model, params, X, Y), engine):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(b, d, rtol=1e-12, atol=1e-15)
    model = bpl.MLP([2, 1], ["sigmoid"], "bce")
    params = model.init([0], "glorot_normal", bias="like_weights")
    X, Y = np.array([[0.5, -1.0], [1.5, 0.2]]), np.array([[1.0], [0.0]])
    _, engine = model.loss_and_grads(params, X, Y)
    ((a, b),), ((c, d),) = sf.seed002_grads(model, params, X, Y), engine
    np.testing.assert_allclose(a, c, rtol=1e-12)
    np.testing.assert_allclose(b, d, rtol=1e-12)


def test_a_lax_threshold_lets_a_seed_formula_through_and_fails_the_gate(settings):
    lax = {**settings, "max_relative_error": 1.0, "max_absolute_error": 1.0}
    formulas = sf.check_seed_formulas(lax, sf.SEED_FORMULAS[:1])
    with pytest.raises(GradcheckError, match="seed000_mse_gradient"):
        sf.gate(formulas)


@pytest.mark.slow
def test_the_references_stage_fails_on_a_number_outside_its_band(tmp_path, copy_workflow, root):
    """Through Snakemake: the references job stops on a wrong printed number, names it and
    its band in the log, and publishes no table."""
    import subprocess
    import sys

    import yaml

    copy_workflow(tmp_path)
    config = yaml.safe_load((root / "config" / "test.yaml").read_text())
    log = cfg.defaults_of("seed001_reference")["log"]
    log[1]["loss"] = "0.0500"  # epoch 200: its band is 0.025-0.041
    config["validation"] = {"references": {"seed001": {"log": log}}}
    (tmp_path / "wrong.yaml").write_text(yaml.safe_dump(config))
    target = "results/validation/references.parquet"
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", target, "--cores", "1", "--configfile", "wrong.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    text = (tmp_path / "logs" / "validation" / "references.log").read_text()
    assert "seed001: loss at Epoch 200" in text and "outside its rounding band" in text, text
    assert not (tmp_path / target).exists()
