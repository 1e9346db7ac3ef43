"""Benchmark: the whole Snakemake job ``fit_mixed_model`` against ``Rscript`` + lme4 on the same CSV.

Run: ``python benchmarks/mixed_job.py [--participants N] [--waves T] [--seed S] [--repeats R]``.

A user fits ``P ~ E + wave + (E | participant_id)`` by REML either with the pipeline
(``snakemake --cores 2 results/<cohort>/mixed/reactivity.fit.json``) or with R
(``Rscript``: ``library(lme4)``, ``read.csv`` of ``results/<cohort>/scores.csv``, ``lmer``).
This script times both as whole processes, start-up included:

1. simulates a cohort with :func:`srflow.synthetic.write_cohort` (default 20,000
   participants x 10 waves) into a temporary working directory, with a config derived
   from ``config/config.yaml`` that keeps one mixed model (``reactivity``) and no SR
   specs or trajectory models;
2. runs ``snakemake --cores 2`` up to the scores (ingest, validate, score; timed once);
3. times ``snakemake --cores 2 results/<cohort>/mixed/reactivity.fit.json
   --forcerun fit_mixed_model`` ``R`` times (wall time of the snakemake process, and the
   job's own ``benchmark:`` file under ``logs/benchmarks/``);
4. times ``Rscript`` fitting the same model from ``scores.csv`` ``R`` times;
5. prints the figures and both sets of estimates (fixed effects, SEs, random-effect SDs,
   residual SD, REML log-likelihood) side by side.

It also prints what the fixed start-up of the ``snakemake`` command costs on this machine
(``snakemake --version``), and why: when the SLURM client tools are installed but no SLURM
controller answers, snakemake-executor-plugin-slurm runs ``scontrol show config`` while
building the command line's help text, and ``scontrol`` retries for about 9 s before it
gives up. To show what the job costs without that machine-specific wait, the snakemake
timing is repeated with a stub ``scontrol`` (exits at once with status 1, as on a machine
without a cluster) first on PATH. Figures are printed, not asserted.

The issue's goal: at 20,000 x 10 the whole Snakemake job, start-up included, is no slower
than Rscript fitting the same model from the same CSV.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
COHORT = "bench"
MODEL = "reactivity"
MODEL_SPEC = {"outcome": "P", "fixed": ["E", "wave"], "random": ["E"], "method": "reml"}

# Reads the scores CSV the pipeline wrote and fits the same model; prints one JSON line.
R_SCRIPT = r"""
t_start <- proc.time()[["elapsed"]]
suppressPackageStartupMessages(library(lme4))
t_lib <- proc.time()[["elapsed"]]
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$participant_id <- factor(d$participant_id)
t_read <- proc.time()[["elapsed"]]
m <- lmer(P ~ E + wave + (E | participant_id), data = d, REML = TRUE)
t_fit <- proc.time()[["elapsed"]]
fe <- fixef(m)
se <- sqrt(diag(as.matrix(vcov(m))))
vc <- as.data.frame(VarCorr(m))
num <- function(x) sprintf("%.12g", x)
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")
cat(sprintf(paste0('{"terms": ["%s"], "estimate": %s, "se": %s, "sigma": %s, "loglik": %s, ',
                   '"sd_intercept": %s, "sd_E": %s, "corr": %s, "n_obs": %d, "n_groups": %d, ',
                   '"singular": %s, "library_seconds": %.3f, "read_seconds": %.3f, "fit_seconds": %.3f}\n'),
            paste(names(fe), collapse = '", "'), vec(fe), vec(se), num(sigma(m)),
            num(as.numeric(logLik(m))), num(vc$sdcor[1]), num(vc$sdcor[2]), num(vc$sdcor[3]),
            nobs(m), as.integer(ngrps(m)[["participant_id"]]), tolower(isSingular(m)),
            t_lib - t_start, t_read - t_lib, t_fit - t_read))
"""


def write_config(workdir: Path) -> Path:
    """The project's config with one cohort (the simulated CSV) and one mixed model only."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    cohort = copy.deepcopy(next(iter(config["cohorts"].values())))
    cohort["input"] = "data/cohort.csv"
    config["cohorts"] = {COHORT: cohort}
    config["sr"] = {}
    config["mixed_models"] = {MODEL: dict(MODEL_SPEC)}
    config["trajectories"] = {}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def snakemake_command(workdir: Path, configfile: Path, *targets: str) -> list[str]:
    return [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
        *targets,
    ]


def run_timed(
    command: list[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 3600.0,
) -> tuple[float, subprocess.CompletedProcess]:
    """Wall time of a whole process; stops the benchmark with its stderr if it fails."""
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"command failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-4000:]}")
    return elapsed, done


def job_benchmark_seconds(workdir: Path) -> dict[str, float]:
    """Seconds and peak memory from the job's Snakemake ``benchmark:`` file."""
    path = workdir / "logs" / "benchmarks" / "fit_mixed_model" / f"{COHORT}.{MODEL}.tsv"
    with path.open(encoding="utf-8") as handle:
        row = next(csv.DictReader(handle, delimiter="\t"))
    return {
        "s": float(row["s"]),
        "max_rss_mb": float(row["max_rss"]) if row["max_rss"] != "NA" else float("nan"),
    }


def env_without_slurm_probe(stub_dir: Path) -> dict[str, str]:
    """PATH with a stub ``scontrol`` that fails at once, as on a machine with no SLURM controller setup."""
    stub_dir.mkdir(parents=True, exist_ok=True)
    stub = stub_dir / "scontrol"
    stub.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    stub.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{stub_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def slurm_probe_seconds() -> float | None:
    """How long ``scontrol show config`` takes here (None if scontrol is not installed)."""
    scontrol = shutil.which("scontrol")
    if scontrol is None:
        return None
    start = time.perf_counter()
    try:
        subprocess.run([scontrol, "show", "config"], capture_output=True, timeout=15)
    except subprocess.TimeoutExpired:
        pass
    return time.perf_counter() - start


def srflow_estimates(workdir: Path) -> dict:
    results = workdir / "results" / COHORT / "mixed"
    fit = json.loads((results / f"{MODEL}.fit.json").read_text(encoding="utf-8"))
    with (results / f"{MODEL}.fixed.csv").open(encoding="utf-8") as handle:
        fixed = list(csv.DictReader(handle))
    components = fit["variance_components"]
    corr = next(iter(components["corr"].values()), None)
    return {
        "terms": [row["term"] for row in fixed],
        "estimate": [float(row["estimate"]) for row in fixed],
        "se": [float(row["se"]) for row in fixed],
        "sigma": components["residual_sd"],
        "loglik": fit["loglik"],
        "sd_intercept": components["sd"]["Intercept"],
        "sd_E": components["sd"]["E"],
        "corr": corr,
        "n_obs": fit["n_obs"],
        "n_groups": fit["n_groups"],
        "singular": fit["singular"],
        "converged": fit["converged"],
        "optimizer": fit["optimizer"],
    }


def summarise(values: list[float]) -> str:
    return f"best {min(values):6.2f} s, median {statistics.median(values):6.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=20_000)
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each whole process")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="working directory to use and keep (default: a temporary one, removed)",
    )
    args = parser.parse_args()

    from srflow.synthetic import write_cohort

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="srflow-mixed-job-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores; snakemake {SNAKEMAKE}; workdir {workdir}"
    )

    start = time.perf_counter()
    paths = write_cohort(
        workdir / "data",
        participants=args.participants,
        waves=args.waves,
        seed=args.seed,
        messy=False,
    )
    print(
        f"simulated {args.participants:,} participants x {args.waves} waves -> {paths['cohort'].name} "
        f"({paths['cohort'].stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - start:.1f} s"
    )
    configfile = write_config(workdir)
    scores_csv = workdir / "results" / COHORT / "scores.csv"
    target = f"results/{COHORT}/mixed/{MODEL}.fit.json"

    elapsed, _ = run_timed(snakemake_command(workdir, configfile, f"results/{COHORT}/scores.csv"))
    print(
        f"snakemake up to scores (ingest, validate, score; not part of the comparison): {elapsed:.1f} s"
    )

    # Fixed start-up of the snakemake command on this machine, and the SLURM probe inside it.
    startup = [run_timed([str(SNAKEMAKE), "--version"])[0] for _ in range(2)]
    probe = slurm_probe_seconds()
    stub_env = env_without_slurm_probe(workdir / "stub-bin")
    startup_stub = [run_timed([str(SNAKEMAKE), "--version"], env=stub_env)[0] for _ in range(2)]

    job_command = snakemake_command(workdir, configfile, target, "--forcerun", "fit_mixed_model")
    snake_wall, snake_job, snake_rss = [], [], []
    for _ in range(args.repeats):
        elapsed, _ = run_timed(job_command)
        bench = job_benchmark_seconds(workdir)
        snake_wall.append(elapsed)
        snake_job.append(bench["s"])
        snake_rss.append(bench["max_rss_mb"])
    ours = srflow_estimates(workdir)
    stub_wall = [run_timed(job_command, env=stub_env)[0] for _ in range(args.repeats)]

    rscript = shutil.which("Rscript")
    lme4_ok = (
        rscript is not None
        and subprocess.run(
            [rscript, "-e", "suppressPackageStartupMessages(library(lme4))"], capture_output=True
        ).returncode
        == 0
    )
    r_wall: list[float] = []
    theirs = None
    if lme4_ok:
        r_file = workdir / "fit_lme4.R"
        r_file.write_text(R_SCRIPT, encoding="utf-8")
        for _ in range(args.repeats):
            elapsed, done = run_timed([rscript, str(r_file), str(scores_csv)])
            r_wall.append(elapsed)
            theirs = json.loads(done.stdout.strip().splitlines()[-1])

    rows = len(scores_csv.read_text(encoding="utf-8").splitlines()) - 1
    print(
        f"\nREML fit of P ~ E + wave + (E | participant_id) on {scores_csv.relative_to(workdir)} "
        f"({rows:,} rows, {ours['n_obs']:,} complete, {ours['n_groups']:,} participants); "
        f"{args.repeats} runs each, wall clock"
    )
    print(f"  {'whole process':<68} {'best':>7} {'median':>7}")
    print(
        f"  {'snakemake ... ' + MODEL + '.fit.json --forcerun fit_mixed_model':<68} "
        f"{min(snake_wall):6.2f}s {statistics.median(snake_wall):6.2f}s"
    )
    print(
        f"  {'  of which the job itself (its benchmark: tsv, s column)':<68} "
        f"{min(snake_job):6.2f}s {statistics.median(snake_job):6.2f}s   peak RSS {max(snake_rss):.0f} MB"
    )
    print(
        f"  {'  of which fixed CLI start-up (snakemake --version)':<68} "
        f"{min(startup):6.2f}s {statistics.median(startup):6.2f}s"
    )
    print(
        f"  {'same snakemake job, stub scontrol on PATH (no SLURM probe wait)':<68} "
        f"{min(stub_wall):6.2f}s {statistics.median(stub_wall):6.2f}s"
    )
    print(
        f"  {'  snakemake --version with the stub':<68} "
        f"{min(startup_stub):6.2f}s {statistics.median(startup_stub):6.2f}s"
    )
    if lme4_ok:
        print(
            f"  {'Rscript (library(lme4), read.csv, lmer, estimates)':<68} "
            f"{min(r_wall):6.2f}s {statistics.median(r_wall):6.2f}s   "
            f"(library {theirs['library_seconds']:.2f} s, read.csv {theirs['read_seconds']:.2f} s, "
            f"lmer {theirs['fit_seconds']:.2f} s in the last run)"
        )
        ratio = statistics.median(snake_wall) / statistics.median(r_wall)
        ratio_stub = statistics.median(stub_wall) / statistics.median(r_wall)
        print(
            f"  median snakemake / Rscript: {ratio:.2f} as is, {ratio_stub:.2f} without the SLURM probe wait "
            f"(goal: <= 1)"
        )
    else:
        print(
            "  Rscript with lme4 not available: skipped (install r-base-core and r-cran-lme4 to compare)."
        )
    if probe is not None:
        print(
            f"\nNote: `scontrol show config` takes {probe:.1f} s here. snakemake-executor-plugin-slurm runs it "
            "when snakemake builds its command line (help text of --slurm-status-command), so every "
            "snakemake start-up on a machine with SLURM client tools but no reachable controller waits "
            "that long, whatever the workflow."
        )

    print("\nEstimates (srflow from fit.json/fixed.csv; lme4 from the Rscript run):")
    print(f"  {'quantity':<22} {'srflow':>16} {'lme4':>16} {'difference':>12}")

    def line(label: str, a, b) -> None:
        if b is None:
            print(f"  {label:<22} {a:>16.8g} {'-':>16}")
        else:
            print(f"  {label:<22} {a:>16.8g} {b:>16.8g} {a - b:>12.2e}")

    r_terms = {name.strip("()"): i for i, name in enumerate(theirs["terms"])} if theirs else {}
    for i, term in enumerate(ours["terms"]):
        j = r_terms.get(term)
        line(f"beta {term}", ours["estimate"][i], theirs["estimate"][j] if j is not None else None)
        line(f"  se {term}", ours["se"][i], theirs["se"][j] if j is not None else None)
    for key, label in (
        ("sd_intercept", "sd (Intercept)"),
        ("sd_E", "sd E"),
        ("corr", "corr (Intercept, E)"),
        ("sigma", "sigma (residual SD)"),
        ("loglik", "REML logLik"),
    ):
        line(label, ours[key], theirs[key] if theirs else None)
    print(
        f"  {'n_obs / n_groups':<22} {ours['n_obs']:>9} / {ours['n_groups']:<5}"
        + (f" {theirs['n_obs']:>9} / {theirs['n_groups']:<5}" if theirs else "")
    )
    print(
        f"  srflow: optimizer {ours['optimizer']}, converged {ours['converged']}, singular {ours['singular']}"
        + (f"; lme4 singular {theirs['singular']}" if theirs else "")
    )

    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
