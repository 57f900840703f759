"""The report stage (rules ``report`` and ``timings``): ``plan`` (parse time: its params and
the benchmark files it reads), ``page`` (the sections), ``seeds`` (each seed document
against this pipeline), ``tables`` and ``document`` (numbers and rendering), ``timings``,
and ``job`` (the rules' entry points)."""
