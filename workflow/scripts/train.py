"""Train one block of runs into its Parquet traces (rule train)."""

import json

from backproplab import jobs

# Log to the rule's log and pin the numerics before anything loads numpy.
sm = jobs.start(snakemake)  # noqa: F821 (injected by the script directive)

from backproplab.training import job as train_job  # noqa: E402

train_job.train_block(
    json.loads(sm.params.block), sm.input.dataset, dict(sm.output.items()), threads=sm.threads
)
