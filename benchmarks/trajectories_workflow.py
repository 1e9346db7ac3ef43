"""Benchmark the trajectory stage of the workflow, run as a user runs it.

The lcga_cohort grid (tests/data/lcga_cohort.csv: 1,500 participants, up to 6 waves;
columns id, time, P, true_class) becomes a cohort file with the canonical roles:
``id`` -> participant, ``wave = time + 1``, ``time`` (a number), and P as the single item
``symptoms`` of a ``problems`` instrument scored by ``sum`` over a range wide enough
for every value ([-1000, 1000]), so the scored P equals the file's P exactly. The config has two
trajectory specs, ``linear`` and ``quadratic`` (LCGA, K = 1..5, 20 starts, class-specific
variance, time = the time column) and no SR or mixed-model specs. ``snakemake --cores 2`` then
runs the whole workflow in a temporary folder (ingest, validate, score, trajectories, report).

Figures printed:

* per trajectory rule: jobs, summed and mean job time from ``logs/benchmarks/<rule>/*.tsv``
  (Snakemake's ``s`` column: wall time of the job's process, Python start-up included);
* the wall time of the trajectory part: from the first trajectory job's start to the last
  one's end (a job ends when Snakemake writes its benchmark file, and starts ``s`` before);
* the whole ``snakemake`` invocation's wall time (it includes Snakemake's own start-up);
* each fit's log-likelihood against R flexmix 2.3-18 (tests/data/lcga_flexmix.csv, copied
  from /work/shared/reference), which took about 41 s for the same grid.

Run: python benchmarks/trajectories_workflow.py [--keep DIR] [--cores N]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TRAJECTORY_RULES = (
    "trajectory_series",
    "trajectory_series_anchored",
    "fit_trajectories",
    "bootstrap_trajectories",
    "select_trajectories",
)
FLEXMIX_SECONDS = 41.0
TARGET_SECONDS = 8.0


def write_cohort(workdir: Path) -> Path:
    """The lcga_cohort grid as a long cohort file with participant, wave, time and one P item."""
    source = pd.read_csv(DATA / "lcga_cohort.csv")
    cohort = pd.DataFrame(
        {
            "id": source["id"].map(lambda i: f"L{i:04d}"),
            "wave": source["time"].astype(int) + 1,
            "time": source["time"],
            "symptoms": source["P"],
        }
    )
    path = workdir / "data" / "lcga.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    cohort.to_csv(path, index=False, float_format="%.17g")
    return path


def write_config(workdir: Path, cohort_file: Path) -> Path:
    grid = {
        "variable": "P",
        "time": "time",
        "method": "lcga",
        "variance": "class",
        "classes": [1, 5],
        "starts": 20,
    }
    config = {
        "seed": 1,
        "cohorts": {
            "lcga": {
                "input": str(cohort_file.relative_to(workdir)),
                "layout": "long",
                "columns": {
                    "participant": "id",
                    "wave": "wave",
                    "time": "time",
                    "time_type": "number",
                },
                "instruments": {
                    "symptoms": {
                        "role": "problems",
                        "items": {"columns": ["symptoms"]},
                        "range": [-1000, 1000],
                        "score": "sum",
                    },
                },
            }
        },
        "sr": {},
        "mixed_models": {},
        "trajectories": {"linear": {**grid, "degree": 1}, "quadratic": {**grid, "degree": 2}},
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def job_times(workdir: Path) -> pd.DataFrame:
    """One row per trajectory job: rule, job, seconds (benchmark ``s``), end (benchmark file mtime)."""
    rows = []
    for rule in TRAJECTORY_RULES:
        for tsv in sorted((workdir / "logs" / "benchmarks" / rule).glob("*.tsv")):
            seconds = float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])
            rows.append({"rule": rule, "job": tsv.stem, "s": seconds, "end": tsv.stat().st_mtime})
    return pd.DataFrame(rows)


def compare_flexmix(workdir: Path) -> pd.DataFrame:
    reference = pd.read_csv(DATA / "lcga_flexmix.csv", comment="#")
    rows = []
    for form in ("linear", "quadratic"):
        selection = pd.read_csv(
            workdir / "results" / "lcga" / "trajectories" / form / "selection.csv"
        )
        ref = reference[reference["form"] == form].set_index("K")
        for _, row in selection.iterrows():
            k = int(row["K"])
            rows.append(
                {
                    "form": form,
                    "K": k,
                    "status": row["status"],
                    "srflow_loglik": round(row["loglik"], 4),
                    "flexmix_loglik": ref.loc[k, "logLik"],
                    "difference": round(row["loglik"] - ref.loc[k, "logLik"], 4),
                    "bic": round(row["bic"], 2),
                    "sizes": row["class_sizes"],
                    "degenerate": row["degenerate"],
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--keep", type=Path, help="run in this folder and keep it (default: a temporary folder)"
    )
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="srflow-traj-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        configfile = write_config(workdir, write_cohort(workdir))
        command = [
            str(SNAKEMAKE),
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(configfile),
            "--cores",
            str(args.cores),
        ]
        start = time.perf_counter()
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        total = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr[-4000:])
            raise SystemExit(f"snakemake failed (exit {done.returncode}); workdir {workdir}")
        jobs = job_times(workdir)
        span = jobs["end"].max() - (jobs["end"] - jobs["s"]).min()
        print(
            f"lcga_cohort.csv through the workflow ({args.cores} cores): 2 specs (linear, quadratic) x K = 1..5 x 20 starts"
        )
        summary = jobs.groupby("rule", sort=False)["s"].agg(
            jobs="size", total_s="sum", mean_s="mean", max_s="max"
        )
        print(summary.round(2).to_string())
        print(f"  trajectory jobs: {len(jobs)}, summed job time {jobs['s'].sum():.2f} s")
        print(
            f"  trajectory part wall time (first job start to last job end): {span:.2f} s "
            f"(flexmix about {FLEXMIX_SECONDS:.0f} s for the fitting alone: {FLEXMIX_SECONDS / span:.1f}x; "
            f"target <= {TARGET_SECONDS:.0f} s: {'met' if span <= TARGET_SECONDS else 'NOT met'})"
        )
        print(
            f"  whole snakemake invocation (all rules, Snakemake start-up included): {total:.2f} s"
        )
        print(compare_flexmix(workdir).to_string(index=False))
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
