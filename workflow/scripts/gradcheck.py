"""Check every experiment's gradients against central differences (rule gradcheck)."""

import json

from backproplab import jobs

# Log to the rule's log and pin the numerics before anything loads numpy.
sm = jobs.start(snakemake)  # noqa: F821 (injected by the script directive)

from backproplab.gradcheck import job  # noqa: E402

job.gradcheck(json.loads(sm.params.spec), dict(sm.input.items()), dict(sm.output.items()))
