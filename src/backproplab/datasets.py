"""Data sets: the seeds' generators and fixed tables, scikit-learn's, and user files.

Every generator takes its randomness from an explicit seed. A data set is a
:class:`Dataset`: features ``X`` of shape ``(n, d)``, targets ``Y`` of shape ``(n, k)``
(one-hot for several classes, 0/1 for one output, real values for regression), and a
``split`` label per sample (``"train"`` or ``"test"``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "GENERATORS",
    "DataFileError",
    "Dataset",
    "DatasetInfo",
    "Generator",
    "dataset_info",
    "generate",
    "has_test_split",
    "read_parquet",
    "write_parquet",
    "encoder",
    "moons",
    "spiral",
    "spiral_draws",
    "worked_example",
    "seed003_table",
    "xor",
    "digits",
    "from_file",
    "source_digest",
]


@dataclass(frozen=True)
class Dataset:
    """Features, targets and split of one data set.

    Attributes
    ----------
    X : ndarray, shape ``(n, d)``
    Y : ndarray, shape ``(n, k)``
    split : ndarray of str, shape ``(n,)``
        ``"train"`` or ``"test"``.
    """

    X: np.ndarray
    Y: np.ndarray
    split: np.ndarray

    def part(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """``(X, Y)`` of the ``"train"`` or ``"test"`` samples, in data-set order."""
        mask = self.split == which
        return self.X[mask], self.Y[mask]


def _all_train(X: np.ndarray, Y: np.ndarray) -> Dataset:
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if Y.ndim == 1:
        Y = Y[:, None]
    return Dataset(X, Y, np.full(len(X), "train"))


def encoder(n: int = 8) -> Dataset:
    """The ``n``-``h``-``n`` encoder task (seed 000): identity one-hot inputs and targets."""
    eye = np.eye(n)
    return _all_train(eye, eye)


def spiral_draws(rng, n_samples: int = 200, noise: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals, drawn exactly as seed 001's ``generate_spiral_data``.

    Parameters
    ----------
    rng : numpy.random.Generator or numpy.random.RandomState
        ``RandomState(42)`` reproduces the notebook's data after ``np.random.seed(42)``.
    n_samples : int
        Points per class.
    noise : float
        Standard deviation of the Gaussian noise added to each coordinate.

    Returns
    -------
    X : ndarray, shape ``(2 n_samples, 2)``, standardised per feature
    y : ndarray, shape ``(2 n_samples,)``, 0 for the first spiral, 1 for the second
    """
    theta = np.sqrt(rng.random(n_samples)) * 2 * np.pi
    r = 2 * theta + np.pi
    x0 = r * np.cos(theta) + rng.standard_normal(n_samples) * noise
    y0 = r * np.sin(theta) + rng.standard_normal(n_samples) * noise
    x1 = -r * np.cos(theta) + rng.standard_normal(n_samples) * noise
    y1 = -r * np.sin(theta) + rng.standard_normal(n_samples) * noise
    X = np.vstack([np.hstack([x0, x1]), np.hstack([y0, y1])])
    X = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
    y = np.hstack([np.zeros(n_samples), np.ones(n_samples)])
    return np.ascontiguousarray(X.T), y


def spiral(
    seed: int, n_samples: int = 200, noise: float = 0.3, rng: str = "seedsequence"
) -> Dataset:
    """Seed 001's spiral data set; ``rng="numpy_legacy"`` draws from ``RandomState(seed)``."""
    stream = np.random.RandomState(seed) if rng == "numpy_legacy" else np.random.default_rng(seed)
    X, y = spiral_draws(stream, n_samples, noise)
    return _all_train(X, y)


def moons(
    n_samples: int = 200,
    noise: float = 0.2,
    random_state: int = 0,
    split_seed: int = 0,
    test_fraction: float = 0.25,
) -> Dataset:
    """scikit-learn's two moons (unshuffled, as seed 002) with a seeded train/test split."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n_samples, noise=noise, random_state=random_state, shuffle=False)
    return _with_split(X, y, test_fraction, split_seed)


def _with_split(X, Y, test_fraction: float, split_seed: int) -> Dataset:
    from sklearn.model_selection import train_test_split

    if test_fraction == 0:
        return _all_train(X, Y)
    idx = np.arange(len(X))
    _, test_idx = train_test_split(idx, test_size=test_fraction, random_state=split_seed)
    split = np.full(len(X), "train")
    split[test_idx] = "test"
    ds = _all_train(X, Y)
    return Dataset(ds.X, ds.Y, split)


def xor() -> Dataset:
    """The four points of XOR."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    return _all_train(X, np.array([0, 1, 1, 0], dtype=float))


def digits(test_fraction: float = 0.25, split_seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits, pixels scaled to [0, 1], one-hot targets, seeded split."""
    from sklearn.datasets import load_digits

    data = load_digits()
    X = data.data / 16.0
    Y = np.eye(10)[data.target]
    return _with_split(X, Y, test_fraction, split_seed)


def worked_example() -> Dataset:
    """Matt Mazur's worked example: one sample, inputs (0.05, 0.10), targets (0.01, 0.99)."""
    return _all_train(np.array([[0.05, 0.10]]), np.array([[0.01, 0.99]]))


# Seed 003's 10-row table (from machinelearningmastery's backpropagation tutorial). The
# seed mistyped two values (row 3 x1 as 396561688, row 9 x2 without its minus sign); these
# are the original's.
_SEED003_X = [
    [2.7810836, 2.550537003],
    [1.465489372, 2.362125076],
    [3.396561688, 4.400293529],
    [1.38807019, 1.850220317],
    [3.06407232, 3.005305973],
    [7.627531214, 2.759262235],
    [5.332441248, 2.088626775],
    [6.922596716, 1.77106367],
    [8.675418651, -0.242068655],
    [7.673756466, 3.508563011],
]
_SEED003_Y = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]


def seed003_table() -> Dataset:
    """Seed 003's 10-row two-class table, typos corrected, as two one-hot outputs."""
    return _all_train(np.array(_SEED003_X), np.eye(2)[_SEED003_Y])


class DataFileError(ValueError):
    """A user's data file that cannot be read as its config entry says.

    Attributes
    ----------
    key : str
        The data-set key at fault, for the error's config path: ``path`` (the file, or
        what it holds) or ``features[i]`` (a column listed twice, or the label).
    """

    def __init__(self, message: str, key: str = "path"):
        super().__init__(message)
        self.key = key


#: Most characters of a user's file (a column name, a value, a reader's message) that an
#: error quotes: the file is the user's, the message may be shared.
QUOTE_LIMIT = 80


def _quote(text) -> str:
    """``text`` in quotes, cut to :data:`QUOTE_LIMIT` characters."""
    text = str(text)
    if len(text) <= QUOTE_LIMIT:
        return repr(text)
    return f"{text[:QUOTE_LIMIT]!r}... ({len(text):,} characters)"


def _names(names) -> str:
    """A list of column names, each quoted with :func:`_quote`, at most
    :data:`QUOTE_LIMIT` characters of them in all."""
    names = list(names)
    shown, length = [], 0
    for name in names:
        quoted = _quote(name)
        if shown and length + len(quoted) > QUOTE_LIMIT:
            break
        shown.append(quoted)
        length += len(quoted) + 2
    more = f", ... ({len(names):,} in all)" if len(shown) < len(names) else ""
    return f"[{', '.join(shown)}{more}]"


def _rows(mask: np.ndarray) -> str:
    """The first rows where ``mask`` holds (0-based data rows, the header not counted)."""
    rows = np.flatnonzero(mask)
    shown = rows[:5].tolist()
    return f"rows {shown}" + (f" and {len(rows) - 5:,} more" if len(rows) > 5 else "")


def check_columns(features: list[str], label: str) -> None:
    """What a file data set's columns must be whatever its file holds: each feature
    listed once, and the label not among them (the target would be an input).

    Raises
    ------
    DataFileError
        With the key at fault (``features[2]``).
    """
    first: dict[str, int] = {}
    for i, name in enumerate(features):
        if name == label:
            raise DataFileError(
                f"{_quote(name)} is the label column (label) and cannot also be a feature: "
                f"the target would be one of the inputs (a target leak)",
                f"features[{i}]",
            )
        if name in first:
            raise DataFileError(
                f"feature column {_quote(name)} is listed twice (features[{first[name]}] "
                f"and features[{i}])",
                f"features[{i}]",
            )
        first[name] = i


def from_file(
    path: str | Path,
    features: list[str],
    label: str,
    one_hot: bool,
    test_fraction: float = 0.0,
    split_seed: int = 0,
) -> Dataset:
    """A user's CSV or Parquet file: numeric ``features`` columns and a ``label`` column.

    Raises
    ------
    DataFileError
        Naming the file, the key at fault and what is wrong: no path, missing, a
        directory, empty, unreadable, a missing column, a feature listed twice or that is
        the label, non-numeric or non-finite features, missing or non-finite labels.
        Quotes of the file's content are cut to :data:`QUOTE_LIMIT` characters.
    """
    import pandas as pd

    if not str(path).strip():
        raise DataFileError("a file data set needs path, the CSV or Parquet file to read")
    check_columns(features, label)
    path = Path(path)
    if path.is_dir():
        raise DataFileError(f"data file {path} is a directory, not a file")
    if not path.is_file():
        raise DataFileError(f"data file {path} does not exist")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # pandas raises many types; the user needs the file and why
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if len(reason) > 2 * QUOTE_LIMIT:
            reason = f"{reason[: 2 * QUOTE_LIMIT]}..."
        raise DataFileError(f"data file {path} could not be read: {reason}") from None
    if frame.empty:
        raise DataFileError(f"data file {path} has no rows")
    missing = [c for c in [*features, label] if c not in frame.columns]
    if missing:
        raise DataFileError(
            f"data file {path} has no column(s) {_names(missing)}; it has {_names(frame.columns)}"
        )
    X = frame[features]
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(X[c])]
    if non_numeric:
        raise DataFileError(
            f"data file {path}: feature column(s) {_names(non_numeric)} are not numeric"
        )
    X = X.to_numpy(dtype=float)
    if not np.isfinite(X).all():
        raise DataFileError(
            f"data file {path}: features hold NaN or infinite values "
            f"({_rows(~np.isfinite(X).all(axis=1))})"
        )
    labels = frame[label]
    if labels.isna().any():
        raise DataFileError(
            f"data file {path}: label column {_quote(label)} holds missing values "
            f"({_rows(labels.isna().to_numpy())})"
        )
    numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
    if numeric and not np.isfinite(labels.to_numpy(dtype=float)).all():
        raise DataFileError(
            f"data file {path}: label column {_quote(label)} holds infinite values "
            f"({_rows(~np.isfinite(labels.to_numpy(dtype=float)))})"
        )
    if one_hot:
        classes, codes = np.unique(labels.to_numpy(), return_inverse=True)
        Y = np.eye(len(classes))[codes]
    else:
        if not numeric:
            raise DataFileError(
                f"data file {path}: label column {_quote(label)} is not numeric (one_hot: "
                f"true reads its values as classes)"
            )
        Y = labels.to_numpy(dtype=float)
    return _with_split(X, Y, test_fraction, split_seed)


def source_digest(spec: dict) -> dict | None:
    """A file data set's source: its path, size and the SHA-256 of its content (the data
    set's provenance; ``None`` for generated data sets)."""
    if spec.get("generator") != "file":
        return None
    import hashlib

    sha = hashlib.sha256()
    size = 0
    with open(spec["path"], "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
            size += len(chunk)
    return {"path": spec["path"], "bytes": size, "sha256": sha.hexdigest()}


# -- config-driven generation ----------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    """What validation needs to know about a data set before it is generated.

    Attributes
    ----------
    n_features, n_targets : int
        Widths of ``X`` and ``Y``.
    kind : {"binary", "multiclass", "regression"}
        0/1 targets, one-hot classes (two or more columns), or real values.
    n_train : int
        Training samples.
    """

    n_features: int
    n_targets: int
    kind: str
    n_train: int


def _n_test(n: int, fraction: float) -> int:
    return math.ceil(fraction * n) if fraction > 0 else 0


@dataclass(frozen=True)
class Generator:
    """A data-set generator as configs name it.

    Attributes
    ----------
    name : str
        The config's ``generator``.
    function : callable
        Makes the :class:`Dataset`; called with the spec's ``options`` as keywords.
    info : callable
        ``info(spec, where) -> DatasetInfo``, without generating the data set if it can.
    options : tuple of str
        The dataset keys it reads (besides ``generator``), also the parameter names of
        ``function``; the schema's defaults fill in every dataset key for every generator,
        so this is what tells one generator's keys from another's.
    """

    name: str
    function: Callable[..., Dataset]
    info: Callable[[dict, str], DatasetInfo]
    options: tuple[str, ...] = ()

    @property
    def splits(self) -> bool:
        """Whether it can hold samples out as a test split (``test_fraction``)."""
        return "test_fraction" in self.options

    def make(self, spec: dict) -> Dataset:
        """The data set ``spec`` (schema-defaulted) describes."""
        return self.function(**{key: spec[key] for key in self.options})


def _fixed(
    n_features: int, n_targets: int, kind: str, n_train: int
) -> Callable[[dict, str], DatasetInfo]:
    """An ``info`` for a data set whose shapes no option changes."""
    info = DatasetInfo(n_features, n_targets, kind, n_train)

    def fixed(spec: dict, where: str) -> DatasetInfo:
        return info

    return fixed


def _encoder_info(spec: dict, where: str) -> DatasetInfo:
    return DatasetInfo(spec["n"], spec["n"], "multiclass", spec["n"])


def _spiral_info(spec: dict, where: str) -> DatasetInfo:
    return DatasetInfo(2, 1, "binary", 2 * spec["n_samples"])


def _moons_info(spec: dict, where: str) -> DatasetInfo:
    n = spec["n_samples"]
    return DatasetInfo(2, 1, "binary", n - _n_test(n, spec["test_fraction"]))


def _digits_info(spec: dict, where: str) -> DatasetInfo:
    return DatasetInfo(64, 10, "multiclass", 1797 - _n_test(1797, spec["test_fraction"]))


def _file_info(spec: dict, where: str) -> DatasetInfo:
    # A user's file has no known shape: it is read (and so checked) here.
    from .config import ConfigError

    if not spec["features"]:
        raise ConfigError(f"{where}.features: a file data set needs its feature columns")
    try:
        ds = generate(spec)
    except DataFileError as exc:
        raise ConfigError(f"{where}.{exc.key}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{where}.path: {exc}") from exc
    Y = ds.Y
    if spec["one_hot"]:
        kind = "multiclass"
    elif np.isin(Y, (0.0, 1.0)).all():
        kind = "binary"
    else:
        kind = "regression"
    return DatasetInfo(ds.X.shape[1], Y.shape[1], kind, int((ds.split == "train").sum()))


# In the schema's enum order (tests/test_registries.py keeps the two equal).
GENERATORS: dict[str, Generator] = {
    g.name: g
    for g in (
        Generator("encoder", encoder, _encoder_info, ("n",)),
        Generator("spiral", spiral, _spiral_info, ("seed", "n_samples", "noise", "rng")),
        Generator(
            "moons",
            moons,
            _moons_info,
            ("n_samples", "noise", "random_state", "split_seed", "test_fraction"),
        ),
        Generator("xor", xor, _fixed(2, 1, "binary", 4)),
        Generator("digits", digits, _digits_info, ("test_fraction", "split_seed")),
        Generator("worked_example", worked_example, _fixed(2, 2, "regression", 1)),
        Generator("seed003_table", seed003_table, _fixed(2, 2, "multiclass", len(_SEED003_X))),
        Generator(
            "file",
            from_file,
            _file_info,
            ("path", "features", "label", "one_hot", "test_fraction", "split_seed"),
        ),
    )
}


def _generator(spec: dict, prefix: str) -> Generator:
    name = spec["generator"]
    if name not in GENERATORS:
        raise ValueError(f"{prefix}unknown generator {name!r}")
    return GENERATORS[name]


def dataset_info(spec: dict, where: str = "dataset") -> DatasetInfo:
    """Shapes and target kind of the data set ``spec`` describes, without generating it
    (a user's file is read and checked).

    Raises
    ------
    ValueError
        For a user file that is missing, empty, unreadable or malformed, prefixed with
        ``where`` (its config path).
    """
    return _generator(spec, f"{where}.generator: ").info(spec, where)


def generate(spec: dict) -> Dataset:
    """Generate the data set a (schema-defaulted) config entry describes."""
    return _generator(spec, "").make(spec)


def has_test_split(spec: dict) -> bool:
    """Whether the data set ``spec`` (schema-defaulted) describes holds out test samples."""
    return GENERATORS[spec["generator"]].splits and spec["test_fraction"] > 0


def write_parquet(ds: Dataset, path: str | Path, spec: dict, source: dict | None = None) -> None:
    """Write ``x0..x{d-1}``, ``y0..y{k-1}`` and ``split`` columns, with ``spec`` as
    metadata; ``source`` (:func:`source_digest`, a user file's path, size and SHA-256)
    too, and then in the provenance's hash."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {f"x{i}": ds.X[:, i] for i in range(ds.X.shape[1])}
    columns |= {f"y{i}": ds.Y[:, i] for i in range(ds.Y.shape[1])}
    table = pa.table({**columns, "split": pa.array(ds.split.tolist(), pa.string())})
    from .settings import digest
    from .traces import atomic_path, provenance

    # A generated data set's hash is its spec's; a user file's also covers its content.
    config_hash = digest(spec) if source is None else digest({"spec": spec, "source": source})
    meta = {
        b"backproplab.dataset": json.dumps(spec, sort_keys=True).encode(),
        b"backproplab.provenance": json.dumps(provenance(config_hash), sort_keys=True).encode(),
    }
    if source is not None:
        meta[b"backproplab.source"] = json.dumps(source, sort_keys=True).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_parquet(path: str | Path) -> Dataset:
    """Read a data set written by :func:`write_parquet` (a damaged file raises
    :class:`backproplab.traces.TraceError`, naming it and the fix)."""
    from .traces import read_frame

    frame = read_frame(path)
    X = frame[[c for c in frame.columns if c.startswith("x")]].to_numpy(dtype=float)
    Y = frame[[c for c in frame.columns if c.startswith("y")]].to_numpy(dtype=float)
    return Dataset(X, Y, frame["split"].to_numpy(dtype=str))


def make(spec: dict, out: str | Path) -> None:
    """The dataset job: generate the data set ``spec`` describes and write it to ``out``
    (Parquet), logging its shape."""
    source = source_digest(spec)
    ds = generate(spec)
    if source is not None and source_digest(spec) != source:
        raise DataFileError(f"data file {spec['path']} changed while it was read: run again")
    write_parquet(ds, out, spec, source)
    logging.getLogger(__name__).info(
        "wrote %s: X %s, Y %s, %d test samples",
        out,
        ds.X.shape,
        ds.Y.shape,
        int((ds.split == "test").sum()),
    )
