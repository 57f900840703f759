"""Reading parameters back from state rows (``traces.read_params``): several runs at one
epoch, one run at several epochs, and what is missing named layer by layer."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backproplab import traces

SIZES = [3, 4, 2]


def _state(runs=("a", "b"), epochs=(0, 5)):
    """State rows of random parameters (and a dW the reader must skip), and the truth."""
    rng = np.random.default_rng(0)
    rows, truth = [], {}
    for run in runs:
        for epoch in epochs:
            pairs = []
            for layer, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
                W, b = rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)
                pairs.append((W, b))
                for (i, j), v in np.ndenumerate(W):
                    rows.append((run, epoch, layer, "W", i, j, v))
                    rows.append((run, epoch, layer, "dW", i, j, 0.0))
                rows += [(run, epoch, layer, "b", 0, j, v) for j, v in enumerate(b)]
            truth[run, epoch] = pairs
    frame = pd.DataFrame(rows, columns=["run_id", "epoch", "layer", "tensor", "i", "j", "value"])
    return frame.iloc[::-1].reset_index(drop=True), truth


def _assert_stacked(params, truth, positions):
    for layer, (W, b) in enumerate(params):
        assert W.shape == (len(positions), SIZES[layer], SIZES[layer + 1])
        for k, key in enumerate(positions):
            np.testing.assert_array_equal(W[k], truth[key][layer][0])
            np.testing.assert_array_equal(b[k], truth[key][layer][1])


def test_runs_at_one_epoch_from_files(tmp_path):
    frame, truth = _state()
    table = pa.Table.from_pandas(frame, preserve_index=False).cast(traces.STATE_SCHEMA)
    pq.write_table(table.slice(0, 40), tmp_path / "one.parquet")
    pq.write_table(table.slice(40), tmp_path / "two.parquet")
    paths = [tmp_path / "one.parquet", tmp_path / "two.parquet"]
    params = traces.read_params(paths, ["b", "a"], SIZES, 5)
    _assert_stacked(params, truth, [("b", 5), ("a", 5)])


def test_one_run_at_epochs_from_a_frame_repeats_allowed():
    frame, truth = _state()
    params = traces.read_params(frame, "a", SIZES, [5, 0, 5])
    _assert_stacked(params, truth, [("a", 5), ("a", 0), ("a", 5)])


def test_what_is_missing_is_named_layer_by_layer():
    frame, _ = _state()
    gone = (frame.run_id == "b") & (frame.layer == 0) & (frame.tensor == "b") & (frame.j == 1)
    with pytest.raises(traces.MissingParamsError) as failure:
        traces.read_params(frame[~gone], ["b", "a"], SIZES, [0, 7])
    assert failure.value.missing == [("b", 0, 0), ("a", 7, 0), ("a", 7, 1)]
