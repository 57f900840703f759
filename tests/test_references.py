"""The references job: worked examples against their published numbers (under both
readings where the source computed a number differently from what it describes), and the
seeds' own gradient formulas, each of which the gradient check must catch."""

import copy

import numpy as np
import pytest

import backproplab as bpl
from backproplab import config as cfg
from backproplab import references as refs
from backproplab import seed_formulas as sf
from backproplab.validation import GradcheckError


@pytest.fixture(scope="module")
def settings(root):
    return cfg.validate(cfg.load(root / "config" / "config.yaml"))["validation"]


@pytest.fixture(scope="module")
def table(settings):
    return refs.compute_references(settings["references"])


def test_tolerance_is_half_a_unit_in_the_last_printed_digit():
    assert refs.tolerance("0.0972") == pytest.approx(5e-5)
    assert refs.tolerance("0.511301270") == pytest.approx(5e-10)
    assert refs.tolerance("1.0000") == pytest.approx(5e-5)


def test_every_required_number_agrees(table):
    required = table[table.required]
    assert required.agrees.all(), required[~required.agrees]
    refs.gate(table)
    assert set(table.reference) == {"mazur", "seed003", "seed001"}
    np.testing.assert_allclose(table.difference, table.computed - table.published_value)


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


def test_seed001_drifts_between_the_printed_epochs_that_match(table):
    seed001 = table[table.reference == "seed001"]
    assert _one(seed001, "loss at Epoch 100", "printed").agrees
    assert _one(seed001, "loss at Epoch 1000", "printed").agrees
    assert not _one(seed001, "loss at Epoch 200", "printed").agrees
    early = _one(seed001, "loss change after a 1-ulp nudge, epoch 99", "measured")
    later = [
        _one(seed001, f"loss change after a 1-ulp nudge, epoch {e}", "measured") for e in (150, 199)
    ]
    assert early.computed < 1e-8 and all(row.computed > 0.1 for row in later)


def test_a_wrong_published_number_fails_the_gate(settings):
    changed = copy.deepcopy(settings["references"])
    changed["mazur"]["error_before"] = "0.298371119"
    table = refs.compute_references(changed)
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
