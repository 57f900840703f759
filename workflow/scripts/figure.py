"""Draw one figure into its PNG, PDF and JSON (rule figure)."""

import json

from backproplab import figures, logs

sm = snakemake  # noqa: F821 (injected by the script directive)
logs.to_file(sm.log[0])
figures.render(json.loads(sm.params.spec), dict(sm.input.items()), dict(sm.output.items()))
