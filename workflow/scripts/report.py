"""Write the summary report and its Markdown twin (rule report)."""

import json

from backproplab import logs, report

sm = snakemake  # noqa: F821 (injected by the script directive)
logs.to_file(sm.log[0])
report.write_report(json.loads(sm.params.spec), dict(sm.input.items()), dict(sm.output.items()))
