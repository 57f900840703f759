"""Worked examples against their published numbers, and the seeds' gradient formulas
against central differences (rule references)."""

import json

from backproplab import jobs

# Log to the rule's log and pin the numerics before anything loads numpy.
sm = jobs.start(snakemake)  # noqa: F821 (injected by the script directive)

from backproplab import references  # noqa: E402

references.run(json.loads(sm.params.settings), sm.output.references, sm.output.seed_formulas)
