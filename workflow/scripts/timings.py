"""Write the wall time of every job and stage from the benchmark files (rule timings)."""

from backproplab import logs, report

sm = snakemake  # noqa: F821 (injected by the script directive)
logs.to_file(sm.log[0])
report.write_timings(sm.params.benchmarks, sm.output[0], sm.params.globs)
