"""Worked examples against their published numbers, and the seeds' gradient formulas
against central differences (rule references)."""

import json

from backproplab import jobs

# Log to the rule's log and pin the numerics before anything loads numpy.
sm = jobs.start(snakemake)  # noqa: F821 (injected by the script directive)

from backproplab.gradcheck import job  # noqa: E402

job.references(json.loads(sm.params.settings), dict(sm.output.items()))
