"""The settings of a run, typed and frozen: the one owner of every model, train and trace key.

A run's settings are built once, from the schema-validated config (:mod:`.experiments`
does it per variant). Each field of :class:`Model` and :class:`Train` declares, once,
everything the stages need to know about its key:

- its run-table column (name and Arrow type; lists and mappings as canonical JSON),
- its short name in a grid variant's name (``act-tanh.sigmoid``) and its legend title,
- how its value reads in a legend (``tanh-sigmoid``, ``normal(0, 1)``).

:meth:`Train.engine_args` are the keyword arguments of :func:`backproplab.engine.train`,
:class:`Schedule` says which epochs record what (metrics, state tensors, layer norms).
Adding a key means a field here, its schema entry, the engine argument it feeds and a
test; the grid, block specs, run tables, legends and retrains follow from the field.

The module is light (no numpy at import), as the workflow builds settings at parse time.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

__all__ = ["Model", "Schedule", "Setting", "Trace", "Train", "canonical_json", "digest"]


def canonical_json(value) -> str:
    """Deterministic JSON (sorted keys, no spaces): the text hashed and stored in traces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def digest(value) -> str:
    """Short SHA-256 of :func:`canonical_json` of ``value``."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Setting:
    """What one settings field is called and how it is stored outside Python.

    Attributes
    ----------
    title : str
        Its name in a legend title (``bias updates``).
    arrow : str
        Its run-table type: ``int64``, ``float64``, ``bool``, ``string``, ``json`` (a
        list or mapping, stored as :func:`canonical_json` text) or ``name_or_json`` (a
        name stored as itself, ``he_normal``; a mapping as :func:`canonical_json` text,
        which starts with ``{``).
    column : str, optional
        Its run-table column, if not the field's name (``loss`` is ``loss_name``: the
        metrics call the loss value ``loss``).
    short : str, optional
        Its key in a grid variant's name, if not the field's name.
    list_valued : bool
        Its value is a list already (``sizes``, ``activations``): in the config only a
        list of lists is a grid over it.
    """

    title: str
    arrow: str
    column: str | None = None
    short: str | None = None
    list_valued: bool = False


def _setting(title: str, arrow: str, **kwargs):
    return field(metadata={"setting": Setting(title, arrow, **kwargs)})


def _plain(value):
    """Tuples as lists, recursively: settings values as JSON-able config data."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _frozen(value):
    """Lists as tuples, recursively (mappings stay mappings)."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _frozen(v) for k, v in value.items()}
    return value


def _pretty(value) -> str:
    """A value as a legend reads it: ``none``, ``0.1``, ``True``."""
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class _Settings:
    """What :class:`Model` and :class:`Train` share: conversion from and to the config,
    the run table and legends, driven by their fields' :class:`Setting`."""

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The config keys, in the run table's column order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def setting(cls, key: str) -> Setting:
        return next(f.metadata["setting"] for f in fields(cls) if f.name == key)

    @classmethod
    def from_mapping(cls, values: Mapping):
        """Settings from a mapping with exactly these keys (a defaulted config section or
        a block spec's ``model``/``train``)."""
        keys = set(cls.keys())
        if unknown := sorted(set(values) - keys):
            raise KeyError(f"{cls.__name__} settings: unknown keys {unknown}")
        if missing := sorted(keys - set(values)):
            raise KeyError(f"{cls.__name__} settings: missing keys {missing}")
        return cls(**{k: _frozen(values[k]) for k in cls.keys()})

    @classmethod
    def from_row(cls, row: Mapping):
        """Settings from a run-table row (a pandas Series or a dict): the inverse of
        :meth:`columns`; nulls (NaN in pandas) become ``None``."""
        values = {}
        for key in cls.keys():
            s = cls.setting(key)
            value = row[s.column or key]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                value = None
            elif s.arrow == "json" or (
                s.arrow == "name_or_json" and str(value).startswith(("{", "["))
            ):
                value = json.loads(value)
            elif s.arrow == "int64":
                value = int(value)
            elif s.arrow == "float64":
                value = float(value)
            elif s.arrow == "bool":
                value = bool(value)
            else:
                value = str(value)
            values[key] = value
        return cls.from_mapping(values)

    def as_dict(self) -> dict:
        """Plain config data (lists, not tuples), e.g. for a block spec."""
        return {k: _plain(getattr(self, k)) for k in self.keys()}

    def columns(self, n: int) -> dict:
        """The run-table columns of ``n`` runs with these settings: name -> Arrow array."""
        import pyarrow as pa

        types = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
        out = {}
        for key in self.keys():
            s, value = self.setting(key), _plain(getattr(self, key))
            if s.arrow == "json" or (s.arrow == "name_or_json" and not isinstance(value, str)):
                value = canonical_json(value)
            out[s.column or key] = pa.array([value] * n, types.get(s.arrow, pa.string()))
        return out

    def label(self, key: str) -> str:
        """How the value of ``key`` reads in a legend."""
        return _pretty(getattr(self, key))

    def phrase(self, key: str, others=()) -> str:
        """How the value of ``key`` reads in a named variant's default label, among the
        settings ``others`` it is told apart from: the value with its title (``clip 1``,
        ``bias init zeros``)."""
        return f"{self.setting(key).title} {self.label(key)}"


@dataclass(frozen=True)
class Model(_Settings):
    """The network of a run.

    Attributes
    ----------
    sizes : tuple of int
        Layer widths from input to output.
    activations : tuple
        One activation per layer after the input: a name, or a mapping with its options.
    loss : str
    init : str or dict
        The weights' initialiser: a name, or a mapping with its options.
    bias_init : str
        ``zeros`` or ``like_weights``.
    """

    sizes: tuple[int, ...] = _setting("sizes", "json", list_valued=True)
    activations: tuple = _setting("activations", "json", short="act", list_valued=True)
    loss: str = _setting("loss", "string", column="loss_name")
    init: str | dict = _setting("init", "name_or_json")
    bias_init: str = _setting("bias init", "string")

    def mlp(self):
        """The :class:`~backproplab.engine.MLP` these settings describe."""
        from .engine import MLP

        return MLP(list(self.sizes), _plain(self.activations), self.loss)

    def init_params(self, seeds, rng: str, legacy_prefix=None):
        """Initial parameters of one run per seed (see ``MLP.init``)."""
        return self.mlp().init(
            list(seeds),
            _plain(self.init),
            bias=self.bias_init,
            rng=rng,
            legacy_prefix=legacy_prefix,
        )

    def label(self, key: str) -> str:
        value = json.loads(canonical_json(_plain(getattr(self, key))))
        if key == "sizes":
            return "-".join(str(v) for v in value)
        if key == "activations":
            return "-".join(
                a if isinstance(a, str) else f"{a['name']}({a.get('slope', '')})".replace("()", "")
                for a in value
            )
        if key == "init" and isinstance(value, dict):
            args = [f"{v:g}" for k, v in value.items() if k in ("mean", "std", "low", "high")]
            return f"{value['name']}({', '.join(args)})" if args else value["name"]
        return _pretty(value)

    def phrase(self, key: str, others=()) -> str:
        """As :meth:`_Settings.phrase`, with the loss in words (``half summed squared
        error``) and, where the ``others`` differ only in the output activation, that
        alone (``softmax output``)."""
        if key == "loss":
            return LOSS_WORDS.get(self.loss, self.loss)
        if key == "activations":
            hidden = {json.dumps(_plain(o.activations[:-1])) for o in (self, *others)}
            if len(hidden) == 1:
                last = replace(self, activations=self.activations[-1:]).label(key)
                return f"{last} output"
            return f"{self.label(key)} activations"
        return super().phrase(key, others)


# The losses in words, for labels and axis titles.
LOSS_WORDS = {
    "mse": "mean squared error",
    "half_sse": "half summed squared error",
    "bce": "binary cross-entropy",
    "cross_entropy": "cross-entropy",
}


@dataclass(frozen=True)
class Train(_Settings):
    """How a run is trained.

    Attributes
    ----------
    epochs : int
    batch_size : int or None
        ``None`` for full batch, ``1`` for online updates.
    shuffle : bool
    momentum : float
    clip : float or None
    update_biases : bool
    diverge_above, diverge_factor : float or None
        The divergence rules (see :func:`backproplab.engine.train`).
    """

    epochs: int = _setting("epochs", "int64")
    batch_size: int | None = _setting("batch", "int64", short="batch")
    shuffle: bool = _setting("shuffle", "bool")
    momentum: float = _setting("momentum", "float64")
    clip: float | None = _setting("clip", "float64")
    update_biases: bool = _setting("bias updates", "bool", short="biases")
    diverge_above: float | None = _setting("divergence bound", "float64")
    diverge_factor: float | None = _setting("divergence factor", "float64")

    def optimizer(self):
        """The update rule (:class:`~backproplab.engine.GradientDescent`)."""
        from .engine import GradientDescent

        return GradientDescent(float(self.momentum), self.clip, self.update_biases)

    def engine_args(self) -> dict:
        """Keyword arguments of :func:`~backproplab.engine.train`, but the runs' own
        (learning rates, seeds) and what is recorded."""
        return {
            "epochs": self.epochs,
            "optimizer": self.optimizer(),
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "diverge_above": self.diverge_above,
            "diverge_factor": self.diverge_factor,
        }


# The tensors of the state table, in the order they are written within an epoch and layer.
TENSORS = ("W", "b", "dW", "db", "z", "a")
# Kept at the first and last epoch whatever trace.state says: validation and decision
# boundaries are computed from them.
ENDPOINT_TENSORS = ("W", "b")


@dataclass(frozen=True)
class Trace:
    """What an experiment's runs record (config ``trace``).

    Attributes
    ----------
    metrics_every : int
    state : tuple of str
        Tensors of the state table (of :data:`TENSORS`).
    state_every : int or None
    state_epochs : tuple of int
    norms_every : int or None
    """

    metrics_every: int
    state: tuple[str, ...]
    state_every: int | None
    state_epochs: tuple[int, ...]
    norms_every: int | None

    @classmethod
    def from_mapping(cls, values: Mapping) -> Trace:
        return cls(
            metrics_every=values["metrics_every"],
            state=tuple(values["state"]),
            state_every=values["state_every"],
            state_epochs=tuple(values["state_epochs"]),
            norms_every=values["norms_every"],
        )

    def schedule(self, epochs: int) -> Schedule:
        """Which epochs of a run of ``epochs`` epochs record what."""
        return Schedule(self, epochs)


def _every(every: int | None, epochs: int, extra=()) -> _Epochs:
    return _Epochs(every, epochs, frozenset(e for e in extra if 0 <= e <= epochs))


@dataclass(frozen=True)
class _Epochs:
    """``range(0, epochs, every)``, the last epoch and ``extra``: a set of epochs that is
    counted and tested in O(1) however long the run (``every=None``: 0, extra, last)."""

    every: int | None
    last: int
    extra: frozenset

    def _regular(self, epoch: int) -> bool:
        if self.every is None:
            return epoch == 0
        return 0 <= epoch < self.last and epoch % self.every == 0

    def __contains__(self, epoch: int) -> bool:
        return epoch == self.last or epoch in self.extra or self._regular(epoch)

    def __len__(self) -> int:
        regular = 1 if self.every is None else -(-self.last // self.every)
        extra = sum(1 for e in self.extra if e != self.last and not self._regular(e))
        return regular + 1 + extra

    def as_list(self) -> list[int]:
        """The epochs, sorted (materialised: as long as the run for ``every=1``)."""
        regular = {0} if self.every is None else set(range(0, self.last, self.every))
        return sorted(regular | self.extra | {self.last})


@dataclass(frozen=True)
class Schedule:
    """The recording policy of one run: which epochs get metrics, state and norms.

    Epoch ``e`` is the state after ``e`` updates; every set includes the last epoch.
    Membership and counts cost O(1) (the budget check runs before any training).
    """

    trace: Trace
    epochs: int

    @property
    def metrics(self) -> _Epochs:
        """Loss, accuracy and the extra metrics: every ``metrics_every`` epochs."""
        return _every(self.trace.metrics_every, self.epochs)

    @property
    def state(self) -> _Epochs:
        """The tensors of ``trace.state``: every ``state_every`` epochs and at
        ``state_epochs`` (those past the run's end are dropped)."""
        return _every(self.trace.state_every, self.epochs, self.trace.state_epochs)

    @property
    def norms(self) -> _Epochs | frozenset:
        """Layer norms: every ``norms_every`` epochs, or never."""
        if self.trace.norms_every is None:
            return frozenset()
        return _every(self.trace.norms_every, self.epochs)

    @property
    def endpoints(self) -> frozenset:
        return frozenset({0, self.epochs})

    def tensors_at(self, epoch: int) -> list[str]:
        """The state tensors recorded at ``epoch``, in table order."""
        chosen = set(self.trace.state) if epoch in self.state else set()
        if epoch in self.endpoints:
            chosen |= set(ENDPOINT_TENSORS)
        return [t for t in TENSORS if t in chosen]

    def epochs_with(self, tensor: str) -> list[int]:
        """The epochs at which ``tensor`` is recorded, sorted."""
        recorded = self.state.as_list() if tensor in self.trace.state else []
        if tensor in ENDPOINT_TENSORS:
            recorded = sorted(set(recorded) | self.endpoints)
        return recorded

    def hook_epochs(self) -> set[int]:
        """Every epoch the trace hook is called at (state, norms or endpoints)."""
        norms = set(self.norms.as_list()) if self.trace.norms_every is not None else set()
        return set(self.state.as_list()) | norms | self.endpoints

    def state_values(self, sizes, n_samples: int) -> int:
        """Rows one run adds to the state table (the trace's dominant size), in O(1)."""
        weights = sum(i * o for i, o in zip(sizes[:-1], sizes[1:], strict=True))
        units = sum(sizes[1:])
        per_tensor = {"W": weights, "b": units, "dW": weights, "db": units}
        per_tensor["z"] = per_tensor["a"] = n_samples * units
        state = len(self.state)
        at_state = sum(per_tensor[t] for t in self.trace.state)
        # Epochs 0 and the last are state epochs; W and b are added there if
        # trace.state lacks them.
        extra = sum(per_tensor[t] for t in ENDPOINT_TENSORS if t not in self.trace.state)
        return state * at_state + 2 * extra
