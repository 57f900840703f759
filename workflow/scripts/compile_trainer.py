"""Compile the compiled trainer into numba's cache once, before the training jobs."""

from backproplab import jobs

# Log to the rule's log and pin the numerics (and the kernel's build) first.
sm = jobs.start(snakemake)  # noqa: F821 (injected by the script directive)

from backproplab.engine.compiled import write_warm_record  # noqa: E402

write_warm_record(sm.output[0])
