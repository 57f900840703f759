# One job per figure, so that changing one figure's options redraws only that figure.
# The figure kinds and what each reads are listed in backproplab.figures.catalog.


wildcard_constraints:
    figure="|".join(FIGURES.KINDS),


rule figure:
    input:
        unpack(figure_inputs),
    output:
        png=report(
            "results/figures/{experiment}/{figure}.png",
            caption="../report/figure.rst",
            category="{experiment}",
            labels={"figure": "{figure}", "format": "PNG"},
        ),
        pdf="results/figures/{experiment}/{figure}.pdf",
        json="results/figures/{experiment}/{figure}.json",
    log:
        "logs/figures/{experiment}/{figure}.log",
    benchmark:
        "logs/figures/{experiment}/{figure}.benchmark.tsv"
    conda:
        "../envs/backproplab.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        numerics=NUMERICS,
        spec=figure_spec,
    script:
        "../scripts/figure.py"
