"""Check every experiment's gradients against central differences (rule gradcheck)."""

import json

from backproplab import logs, validation

sm = snakemake  # noqa: F821 (injected by the script directive)
logs.to_file(sm.log[0])
validation.run(json.loads(sm.params.spec), dict(sm.input.items()), sm.output[0])
