# The summary report: one self-contained page and its Markdown twin, built only after
# the validation stage has passed (its outputs are inputs here); wall times go on a
# separate page so that the report itself is byte-identical across reruns.


report: "../report/workflow.rst"


rule report:
    input:
        runs=all_trace_files(["runs"]),
        metrics=all_trace_files(["metrics"]),
        figures=all_figure_files(["json"]),
        images=all_figure_files(["png", "pdf"]),
        gradcheck="results/validation/gradcheck.parquet",
        references="results/validation/references.parquet",
        seed_formulas="results/validation/seed_formulas.parquet",
        validation_summary="results/validation/summary.md",
    output:
        html=report(
            "results/report/index.html",
            caption="../report/index.rst",
            category="Summary",
        ),
        markdown="results/report/summary.md",
    log:
        "logs/report/index.log",
    benchmark:
        "logs/report/index.benchmark.tsv"
    conda:
        "../envs/backproplab.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        numerics=NUMERICS,
        spec=report_spec,
    script:
        "../scripts/report.py"


rule timings:
    input:
        "results/report/index.html",
    output:
        report(
            "results/report/timings.html",
            caption="../report/timings.rst",
            category="Summary",
        ),
    log:
        "logs/report/timings.log",
    conda:
        "../envs/backproplab.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        numerics=NUMERICS,
        benchmarks=report_benchmarks,
        globs=REPORT_PLAN.BENCHMARK_GLOBS,
    script:
        "../scripts/timings.py"
