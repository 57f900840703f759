"""Write the summary report and its Markdown twin (rule report)."""

import json

from backproplab import jobs

# Log to the rule's log and pin the numerics before anything loads numpy.
sm = jobs.start(snakemake)  # noqa: F821 (injected by the script directive)

from backproplab.report import job  # noqa: E402

job.report(json.loads(sm.params.spec), dict(sm.input.items()), dict(sm.output.items()))
