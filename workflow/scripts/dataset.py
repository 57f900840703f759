"""Generate one data set (rule dataset)."""

import json

from backproplab import jobs

# Log to the rule's log and pin the numerics before anything loads numpy.
sm = jobs.start(snakemake)  # noqa: F821 (injected by the script directive)

from backproplab import datasets  # noqa: E402

datasets.make(json.loads(sm.params.spec), sm.output[0])
