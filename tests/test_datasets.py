"""Data-set generators and loaders."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_moons

from backproplab import datasets
from backproplab.config import ConfigError


def test_moons_are_scikit_learns_with_a_seeded_split():
    ds = datasets.moons(n_samples=200, noise=0.2, random_state=0, split_seed=0)
    X, y = make_moons(n_samples=200, noise=0.2, random_state=0, shuffle=False)
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.Y[:, 0], y)
    assert (ds.split == "test").sum() == 50
    again = datasets.moons(split_seed=0)
    np.testing.assert_array_equal(again.split, ds.split)
    assert not np.array_equal(datasets.moons(split_seed=1).split, ds.split)


def _seed001_generator(rs, n_samples, noise):
    """Seed 001's generate_spiral_data, verbatim but for the explicit stream."""
    theta = np.sqrt(rs.rand(n_samples)) * 2 * np.pi
    r0 = 2 * theta + np.pi
    x0 = r0 * np.cos(theta) + rs.randn(n_samples) * noise
    y0 = r0 * np.sin(theta) + rs.randn(n_samples) * noise
    r1 = 2 * theta + np.pi
    x1 = -r1 * np.cos(theta) + rs.randn(n_samples) * noise
    y1 = -r1 * np.sin(theta) + rs.randn(n_samples) * noise
    X = np.vstack([np.hstack([x0, x1]), np.hstack([y0, y1])])
    y = np.hstack([np.zeros(n_samples), np.ones(n_samples)]).reshape(1, -1)
    X = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
    return X, y


@pytest.mark.parametrize("seed", [42, 7])
def test_spiral_equals_the_seed_generator_for_the_same_legacy_seed(seed):
    ds = datasets.spiral(seed, n_samples=200, noise=0.3, rng="numpy_legacy")
    X, y = _seed001_generator(np.random.RandomState(seed), 200, 0.3)
    np.testing.assert_array_equal(ds.X, X.T)
    np.testing.assert_array_equal(ds.Y, y.T)


def test_spiral_on_a_modern_stream_is_seeded():
    a, b = datasets.spiral(0), datasets.spiral(0)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, datasets.spiral(1).X)
    np.testing.assert_allclose(a.X.mean(axis=0), 0, atol=1e-12)  # standardised


def test_fixed_tables():
    np.testing.assert_array_equal(datasets.encoder(8).X, np.eye(8))
    t = datasets.seed003_table()
    assert t.X[2, 0] == 3.396561688 and t.X[8, 1] == -0.242068655  # the typos, corrected
    np.testing.assert_array_equal(t.Y.argmax(1), [0] * 5 + [1] * 5)
    assert datasets.xor().Y[:, 0].tolist() == [0, 1, 1, 0]
    d = datasets.digits()
    assert d.X.shape == (1797, 64) and d.X.max() == 1.0 and d.Y.sum(1).min() == 1


def test_parquet_round_trip(tmp_path):
    ds = datasets.moons(n_samples=40)
    datasets.write_parquet(ds, tmp_path / "m.parquet", {"generator": "moons"})
    back = datasets.read_parquet(tmp_path / "m.parquet")
    np.testing.assert_array_equal(back.X, ds.X)
    np.testing.assert_array_equal(back.Y, ds.Y)
    np.testing.assert_array_equal(back.split, ds.split)
    assert list(pd.read_parquet(tmp_path / "m.parquet").columns) == ["x0", "x1", "y0", "split"]


def _file_spec(path, **extra):
    return {
        "generator": "file",
        "path": str(path),
        "features": ["a", "b"],
        "label": "y",
        "one_hot": False,
        "test_fraction": 0.0,
        "split_seed": 0,
        **extra,
    }


def test_a_users_csv(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,y\n0.1,0.2,0\n0.3,0.4,1\n0.5,0.6,1\n")
    info = datasets.dataset_info(_file_spec(csv))
    assert (info.n_features, info.n_targets, info.kind, info.n_train) == (2, 1, "binary", 3)
    onehot = datasets.dataset_info(_file_spec(csv, one_hot=True))
    assert (onehot.n_targets, onehot.kind) == (2, "multiclass")


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (None, {}, r"datasets\.mine\.path: data file .* does not exist"),
        ("", {}, r"datasets\.mine\.path: data file .* could not be read"),
        ("a,b,y\n", {}, r"has no rows"),
        ("a,b,y\n1,x,0\n", {}, r"feature column\(s\) \['b'\] are not numeric"),
        ("a,b,y\n1,,0\n2,3,1\n", {}, r"features hold NaN or infinite values \(rows \[0\]\)"),
        ("a,b,y\n1,2,0\n", {"label": "class"}, r"has no column\(s\) \['class'\]"),
    ],
)
def test_bad_user_files_are_named(tmp_path, content, extra, message):
    path = tmp_path / "mine.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        datasets.dataset_info(_file_spec(path, **extra), "datasets.mine")
