"""Benchmark: the whole Snakemake ``sr_scores`` jobs, one per SR level, as a user runs them.

Run: ``python benchmarks/sr_job.py [--participants N] [--waves T] [--seed S] [--repeats R]``.

Simulates a cohort with :func:`srflow.synthetic.write_cohort` (default 20,000 participants x
10 waves), writes a config derived from ``config/config.yaml`` with one SR spec per level
(wave, period, multilevel, sliding, change; default settings) and no mixed or trajectory
models, runs ``snakemake --cores 2`` up to the scores, then times ``R`` runs of
``snakemake --cores 2 <the five SR tables> --forcerun sr_scores`` (wall time of the whole
process) and reads each job's ``benchmark:`` file (seconds, peak memory). As in
``mixed_job.py``, the run is repeated with a stub ``scontrol`` first on PATH to show the
cost without the SLURM executor plugin's start-up probe on machines that have the SLURM
client tools but no reachable controller. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from mixed_job import (
    ROOT,
    env_without_slurm_probe,
    run_timed,
    slurm_probe_seconds,
    snakemake_command,
)

COHORT = "bench"
SPECS = {level: {"level": level} for level in ("wave", "period", "multilevel", "sliding", "change")}


def write_config(workdir: Path) -> Path:
    """The project's config with one cohort (the simulated CSV) and one SR spec per level."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    cohort = copy.deepcopy(next(iter(config["cohorts"].values())))
    cohort["input"] = "data/cohort.csv"
    config["cohorts"] = {COHORT: cohort}
    config["sr"] = copy.deepcopy(SPECS)
    config["mixed_models"] = {}
    config["trajectories"] = {}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def job_benchmarks(workdir: Path) -> dict[str, tuple[float, float]]:
    out = {}
    for spec in SPECS:
        path = workdir / "logs" / "benchmarks" / "sr_scores" / f"{COHORT}.{spec}.tsv"
        with path.open(encoding="utf-8") as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        out[spec] = (
            float(row["s"]),
            float(row["max_rss"]) if row["max_rss"] != "NA" else float("nan"),
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=20_000)
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="working directory to use and keep (default: a temporary one, removed)",
    )
    args = parser.parse_args()

    from srflow.synthetic import write_cohort

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="srflow-sr-job-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; workdir {workdir}")
    start = time.perf_counter()
    write_cohort(
        workdir / "data",
        participants=args.participants,
        waves=args.waves,
        seed=args.seed,
        messy=False,
    )
    print(
        f"simulated {args.participants:,} participants x {args.waves} waves in {time.perf_counter() - start:.1f} s"
    )
    configfile = write_config(workdir)
    elapsed, _ = run_timed(snakemake_command(workdir, configfile, f"results/{COHORT}/scores.csv"))
    print(f"snakemake up to scores (not part of the figures below): {elapsed:.1f} s")

    targets = [f"results/{COHORT}/sr/{spec}.csv" for spec in SPECS]
    command = snakemake_command(workdir, configfile, *targets, "--forcerun", "sr_scores")
    wall, per_job = [], {spec: [] for spec in SPECS}
    for _ in range(args.repeats):
        wall.append(run_timed(command)[0])
        for spec, (seconds, rss) in job_benchmarks(workdir).items():
            per_job[spec].append((seconds, rss))
    stub_env = env_without_slurm_probe(workdir / "stub-bin")
    stub_wall = [run_timed(command, env=stub_env)[0] for _ in range(args.repeats)]

    rows = (
        len((workdir / "results" / COHORT / "scores.csv").read_text(encoding="utf-8").splitlines())
        - 1
    )
    print(
        f"\nSR scores, one sr_scores job per level, {rows:,} score rows; {args.repeats} runs, wall clock"
    )
    print(f"  {'':<58} {'best':>7} {'median':>7}")
    print(
        f"  {'snakemake --cores 2, all five SR jobs (--forcerun sr_scores)':<58} "
        f"{min(wall):6.2f}s {statistics.median(wall):6.2f}s"
    )
    print(
        f"  {'same, stub scontrol on PATH (no SLURM probe wait)':<58} "
        f"{min(stub_wall):6.2f}s {statistics.median(stub_wall):6.2f}s"
    )
    for spec, values in per_job.items():
        seconds = [v[0] for v in values]
        print(
            f"  {'  job sr_scores ' + spec + ' (benchmark: tsv, s)':<58} "
            f"{min(seconds):6.2f}s {statistics.median(seconds):6.2f}s   peak RSS {max(v[1] for v in values):.0f} MB"
        )
    probe = slurm_probe_seconds()
    if probe is not None:
        print(
            f"\n`scontrol show config` takes {probe:.1f} s here; the SLURM executor plugin runs it at every "
            "snakemake start-up (see benchmarks/mixed_job.py)."
        )
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
