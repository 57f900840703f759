"""Worked examples against their published numbers, and the seeds' gradient formulas
against central differences (rule references)."""

import json

from backproplab import logs, references

sm = snakemake  # noqa: F821 (injected by the script directive)
logs.to_file(sm.log[0])
references.run(json.loads(sm.params.settings), sm.output.references, sm.output.seed_formulas)
