# One job per experiment: one process draws all of an experiment's figures (Python,
# matplotlib and each trace file are loaded once), each figure still its own PNG, PDF
# and JSON; changing one figure's options redraws that experiment's figures only.
# Snakemake's outputs cannot vary with a wildcard's value, and experiments draw different
# figures, so the rule is defined once per experiment: figures_<experiment>. The figure
# kinds and what each reads are listed in backproplab.figures.catalog.
for experiment in FIGURED_EXPERIMENTS:

    rule:
        name:
            f"figures_{experiment}"
        input:
            **experiment_figure_inputs(experiment),
        output:
            **experiment_figure_outputs(experiment),
        log:
            f"logs/figures/{experiment}.log",
        benchmark:
            f"logs/figures/{experiment}.benchmark.tsv"
        group:
            "figures"
        conda:
            "../envs/backproplab.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            numerics=NUMERICS,
            specs=experiment_figure_specs(experiment),
            about=experiment_figure_about(experiment),
        script:
            "../scripts/figures.py"
