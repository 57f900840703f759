rule train:
    input:
        dataset=block_dataset,
        compiled_trainer=compiled_trainer,
    output:
        runs="results/traces/{experiment}/runs/{block}.parquet",
        metrics="results/traces/{experiment}/metrics/{block}.parquet",
        state="results/traces/{experiment}/state/{block}.parquet",
        norms="results/traces/{experiment}/norms/{block}.parquet",
    log:
        "logs/train/{experiment}/{block}.log",
    benchmark:
        "logs/train/{experiment}/{block}.benchmark.tsv"
    conda:
        "../envs/backproplab.yaml"
    threads: 1
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
    params:
        numerics=NUMERICS,
        block=block_spec,
    script:
        "../scripts/train.py"
