"""Generate one data set (rule dataset)."""

import json

from backproplab import logs, pipeline

logs.to_file(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
pipeline.make_dataset(json.loads(snakemake.params.spec), snakemake.output[0])  # noqa: F821
