"""Write the wall time of every job and stage from the benchmark files (rule timings)."""

from backproplab import jobs

# Log to the rule's log and pin the numerics before anything loads numpy.
sm = jobs.start(snakemake)  # noqa: F821 (injected by the script directive)

from backproplab.report import job  # noqa: E402

job.timings(sm.params.benchmarks, sm.params.globs, sm.output[0])
