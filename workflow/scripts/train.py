"""Train one block of runs into its Parquet traces (rule train)."""

import json

from backproplab import logs, pipeline

sm = snakemake  # noqa: F821 (injected by the script directive)
logs.to_file(sm.log[0])
pipeline.train_block(json.loads(sm.params.block), sm.input.dataset, dict(sm.output.items()))
