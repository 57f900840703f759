"""Draw every figure of one experiment into its PNG, PDF and JSON (rules figures_*)."""

import json

from backproplab import jobs

# Log to the rule's log and pin the numerics before anything loads numpy.
sm = jobs.start(snakemake)  # noqa: F821 (injected by the script directive)

from backproplab import figures  # noqa: E402

figures.render_experiment(
    json.loads(sm.params.specs), dict(sm.input.items()), dict(sm.output.items())
)
