"""The validation stage's parse-time module: light imports, and the jobs' specs and
inputs as common.smk hands them to the rules."""

import subprocess
import sys

from backproplab import config as cfg
from backproplab.experiments import plan
from backproplab.gradcheck import plan as stage


def test_the_plan_imports_neither_numpy_nor_pandas():
    code = (
        "import sys, backproplab.gradcheck.plan; "
        "print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_inputs_name_every_experiments_data_set_runs_and_state(root):
    the_plan = plan(cfg.validate(cfg.load(root / "config" / "test.yaml")))
    inputs = stage.inputs(the_plan, "out")
    assert len(inputs) == 3 * len(the_plan.experiments)
    for name, exp in the_plan.experiments.items():
        assert inputs[f"{name}_dataset"] == f"out/datasets/{exp.dataset}.parquet"
        for table in ("runs", "state"):
            assert inputs[f"{name}_{table}"] == [
                f"out/traces/{name}/{table}/{b.name}.parquet" for b in exp.blocks
            ]
    spec = stage.stage_spec(the_plan)
    assert [e["experiment"] for e in spec["experiments"]] == list(the_plan.experiments)
    assert set(spec["experiments"][0]["validation"]) == set(stage.STAGE_SETTINGS)
