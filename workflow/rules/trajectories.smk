# Trajectory models, per cohort and spec: build the series (one job), fit each K (one job per K),
# bootstrap LR replicates (one job per K >= 2 and replicate), gather (one job), and with
# predictors the class-membership model (one job), with distal outcomes their BCH class means.


rule trajectory_series:
    input:
        unpack(trajectory_series_inputs),
    output:
        series="results/{cohort}/trajectories/{name}/series.parquet",
    log:
        "logs/trajectory_series/{cohort}.{name}.log",
    benchmark:
        "logs/benchmarks/trajectory_series/{cohort}.{name}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(20),
        runtime=10,
    script:
        "../scripts/trajectory_series.py"


rule trajectory_series_anchored:
    input:
        unpack(trajectory_series_inputs),
    output:
        series="results/{cohort}/trajectories/{name}/series_anchored.parquet",
        anchors="results/{cohort}/trajectories/{name}/anchors.csv",
    log:
        "logs/trajectory_series_anchored/{cohort}.{name}.log",
    benchmark:
        "logs/benchmarks/trajectory_series_anchored/{cohort}.{name}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(20),
        runtime=10,
    script:
        "../scripts/trajectory_series.py"


rule fit_trajectories:
    input:
        series=lambda wc: trajectory_series_file(wc.cohort, wc.name),
    output:
        fit="results/{cohort}/trajectories/{name}/fits/K{k}.json",
        classes="results/{cohort}/trajectories/{name}/fits/K{k}.classes.parquet",
    log:
        "logs/fit_trajectories/{cohort}.{name}.K{k}.log",
    benchmark:
        "logs/benchmarks/fit_trajectories/{cohort}.{name}.K{k}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(400),
        runtime=60,
    params:
        spec=lambda wc: trajectory_spec(wc.cohort, wc.name),
        seed=SRFLOW.seed,
    script:
        "../scripts/fit_trajectories.py"


rule bootstrap_trajectories:
    input:
        series=lambda wc: trajectory_series_file(wc.cohort, wc.name),
    output:
        replicate="results/{cohort}/trajectories/{name}/bootstrap/K{k}.rep{rep}.json",
    log:
        "logs/bootstrap_trajectories/{cohort}.{name}.K{k}.rep{rep}.log",
    benchmark:
        "logs/benchmarks/bootstrap_trajectories/{cohort}.{name}.K{k}.rep{rep}.tsv"
    wildcard_constraints:
        rep="[0-9]+",
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(400),
        runtime=60,
    params:
        spec=lambda wc: trajectory_spec(wc.cohort, wc.name),
        seed=SRFLOW.seed,
    script:
        "../scripts/bootstrap_trajectories.py"


rule select_trajectories:
    input:
        unpack(trajectory_select_inputs),
    output:
        selection="results/{cohort}/trajectories/{name}/selection.csv",
        classes="results/{cohort}/trajectories/{name}/classes.csv",
        curves="results/{cohort}/trajectories/{name}/curves.csv",
        classification="results/{cohort}/trajectories/{name}/classification.csv",
    log:
        "logs/select_trajectories/{cohort}.{name}.log",
    benchmark:
        "logs/benchmarks/select_trajectories/{cohort}.{name}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        spec=lambda wc: trajectory_spec(wc.cohort, wc.name),
    script:
        "../scripts/select_trajectories.py"


rule trajectory_predictors:
    input:
        classes="results/{cohort}/trajectories/{name}/classes.csv",
        scores="results/{cohort}/scores.parquet",
        series=lambda wc: trajectory_series_file(wc.cohort, wc.name),
    output:
        predictors="results/{cohort}/trajectories/{name}/predictors.csv",
    log:
        "logs/trajectory_predictors/{cohort}.{name}.log",
    benchmark:
        "logs/benchmarks/trajectory_predictors/{cohort}.{name}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(400),
        runtime=60,
    params:
        spec=lambda wc: trajectory_spec(wc.cohort, wc.name),
        seed=SRFLOW.seed,
    script:
        "../scripts/trajectory_predictors.py"


rule trajectory_distal:
    input:
        classes="results/{cohort}/trajectories/{name}/classes.csv",
        scores="results/{cohort}/scores.parquet",
    output:
        distal="results/{cohort}/trajectories/{name}/distal.csv",
    log:
        "logs/trajectory_distal/{cohort}.{name}.log",
    benchmark:
        "logs/benchmarks/trajectory_distal/{cohort}.{name}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(100),
        runtime=10,
    params:
        spec=lambda wc: trajectory_spec(wc.cohort, wc.name),
    script:
        "../scripts/trajectory_distal.py"
