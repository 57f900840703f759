"""Write the validation summary from its three tables (rule validation_summary)."""

from backproplab import jobs

# Log to the rule's log and pin the numerics before anything loads numpy.
sm = jobs.start(snakemake)  # noqa: F821 (injected by the script directive)

from backproplab import validation  # noqa: E402

validation.write_summary(
    sm.input.gradcheck, sm.input.seed_formulas, sm.input.references, sm.output[0]
)
