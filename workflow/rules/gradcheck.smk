# The validation stage: backpropagation against central differences for every variant of
# every experiment (one job: each experiment's check takes less than a process start-up),
# the worked examples and the seeds' gradient formulas (one job), and the summary. A failed
# check fails its job, so nothing that depends on the validation outputs (the report) is
# built over it. The package backproplab.gradcheck does the work: its plan module gives
# the params and inputs (through common.smk), its job module the scripts' entry points.


rule gradcheck:
    input:
        unpack(gradcheck_inputs),
    output:
        gradcheck="results/validation/gradcheck.parquet",
    log:
        "logs/validation/gradcheck.log",
    benchmark:
        "logs/validation/gradcheck.benchmark.tsv"
    conda:
        "../envs/backproplab.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=15,
    params:
        numerics=NUMERICS,
        spec=gradcheck_spec,
    script:
        "../scripts/gradcheck.py"


rule references:
    output:
        references="results/validation/references.parquet",
        seed_formulas="results/validation/seed_formulas.parquet",
    log:
        "logs/validation/references.log",
    benchmark:
        "logs/validation/references.benchmark.tsv"
    conda:
        "../envs/backproplab.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        numerics=NUMERICS,
        settings=validation_settings,
    script:
        "../scripts/references.py"


rule validation_summary:
    input:
        gradcheck="results/validation/gradcheck.parquet",
        references="results/validation/references.parquet",
        seed_formulas="results/validation/seed_formulas.parquet",
    output:
        summary="results/validation/summary.md",
    log:
        "logs/validation/summary.log",
    benchmark:
        "logs/validation/summary.benchmark.tsv"
    conda:
        "../envs/backproplab.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        numerics=NUMERICS,
    script:
        "../scripts/validation_summary.py"
