"""Write the validation summary from its three tables (rule validation_summary)."""

from backproplab import logs, validation

sm = snakemake  # noqa: F821 (injected by the script directive)
logs.to_file(sm.log[0])
validation.write_summary(
    sm.input.gradcheck, sm.input.seed_formulas, sm.input.references, sm.output[0]
)
