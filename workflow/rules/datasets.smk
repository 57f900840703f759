rule dataset:
    input:
        dataset_sources,
    output:
        "results/datasets/{dataset}.parquet",
    log:
        "logs/datasets/{dataset}.log",
    benchmark:
        "logs/datasets/{dataset}.benchmark.tsv"
    conda:
        "../envs/backproplab.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        numerics=NUMERICS,
        spec=dataset_spec,
    script:
        "../scripts/dataset.py"
