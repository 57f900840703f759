rule compile_trainer:
    output:
        COMPILED_TRAINER,
    log:
        "logs/compile/compiled_trainer.log",
    benchmark:
        "logs/compile/compiled_trainer.benchmark.tsv"
    conda:
        "../envs/backproplab.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        numerics=NUMERICS,
    script:
        "../scripts/compile_trainer.py"
