"""The validation stage (rules ``gradcheck``, ``references`` and ``validation_summary``):
backpropagation against central differences for every trained configuration, the worked
examples against their published numbers, and the seeds' own gradient formulas checked
the same way. One job per module:

- :mod:`.plan`: what Snakemake asks of the stage at parse time (each job's spec and
  inputs); imports neither numpy nor pandas;
- :mod:`.job`: the three rules' entry points, one signature shape;
- :mod:`.differences`: the numerics, central differences in long double;
- :mod:`.checks`: the per-experiment checks and :class:`~.checks.GradcheckError`;
- :mod:`.references`: the worked examples;
- :mod:`.seed_formulas`: the seed documents' wrong gradient formulas;
- :mod:`.summary`: the Markdown summary of the three tables;
- :mod:`.tables`: writing a validation table.

This file imports nothing, so that importing :mod:`.plan` loads no numpy.
"""
