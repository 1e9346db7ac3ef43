"""Benchmark of the first three pipeline stages: ingest, validate, score.

Usage::

    python benchmarks/pipeline.py [--participants 100000] [--waves 10] [--seed 1]
                                  [--extra-items 0] [--cores 2] [--workdir DIR] [--json PATH]

A synthetic cohort (``srflow.synthetic.simulate_cohort``: 12 GHQ + 11 hassle + 25
life-event items = 48 item columns, dropout and blanks) is written to a CSV in a
temporary directory together with a config that points at it. Each measurement then
runs in a fresh Python process, so its peak resident memory (``ru_maxrss`` of that
process) belongs to that measurement alone:

* ``ingest``   - ``srflow.io.read_cohort``
* ``validate`` - read_cohort, then ``srflow.validation.validate`` (the validate time is
  its own; the peak includes the ingested table it needs)
* ``score``    - reads the validated table from Parquet (untimed), then
  ``srflow.scoring.score`` (peak includes the validated table)
* ``total``    - the three calls back to back in one process, as a user would run them

Targets (the project's scale goal): total <= 20 s and peak <= 4 GB on 2 cores.
Child processes are pinned to ``--cores`` CPUs so the figure means the same on a
bigger machine. If ``srflow.io`` or ``srflow.validation`` cannot be imported, the
stages that need them are reported as unavailable and scoring runs on a validated-like
table built directly from the CSV (said in the output).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 20.0
TARGET_PEAK_MB = 4096.0
COHORT = "synthetic"
ITEM_PREFIXES = ("GHQ_", "GE_", "LE_", "Q_")


# --- helpers run in the child processes ---------------------------------------------------------


def _peak_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports ru_maxrss in KB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 1024.0**2


def _cohort(workdir: Path):
    from srflow.config import load_config

    return load_config(workdir / "config.yaml").cohort(COHORT)


#: CPU seconds (all threads) of each timed call in this process, by function name; a fairer figure than
#: wall time when other work shares the machine.
CPU_SECONDS: dict[str, float] = {}


def _timed(func, *args):
    start, cpu_start = time.perf_counter(), time.process_time()
    result = func(*args)
    CPU_SECONDS[getattr(func, "__name__", "call")] = time.process_time() - cpu_start
    return result, time.perf_counter() - start


def _child_generate(workdir: Path, args: argparse.Namespace) -> dict:
    import yaml

    from srflow.synthetic import simulate_cohort

    (data, _truth), t_simulate = _timed(
        lambda: simulate_cohort(
            args.participants, args.waves, args.seed, n_extra_items=args.extra_items
        )
    )
    del _truth
    csv_path = workdir / "cohort.csv"
    _, t_write = _timed(lambda: data.to_csv(csv_path, index=False, lineterminator="\n"))
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["cohorts"] = {COHORT: {**config["cohorts"][COHORT], "input": str(csv_path)}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return {
        "rows": len(data),
        "columns": data.shape[1],
        "item_columns": sum(c.startswith(ITEM_PREFIXES) for c in data.columns),
        "csv_mb": csv_path.stat().st_size / 1024**2,
        "t_simulate": t_simulate,
        "t_write": t_write,
    }


def _child_ingest(workdir: Path, args: argparse.Namespace) -> dict:
    from srflow import io

    cohort = _cohort(workdir)
    ingested, t_ingest = _timed(io.read_cohort, cohort)
    return {"t_ingest": t_ingest, "rows": len(ingested.table)}


def _child_validate(workdir: Path, args: argparse.Namespace) -> dict:
    from srflow import io, validation

    cohort = _cohort(workdir)
    ingested, t_ingest = _timed(io.read_cohort, cohort)
    result, t_validate = _timed(validation.validate, ingested, cohort)
    n_failures = len(result.failures)
    table = result.table
    del ingested, result
    # For the score measurement; not part of the validate time.
    table.to_parquet(workdir / "validated.parquet", index=False)
    return {
        "t_ingest": t_ingest,
        "t_validate": t_validate,
        "rows": len(table),
        "failures": n_failures,
    }


def _validated_stand_in(workdir: Path):
    """A validated-like table read straight from the CSV, for when io/validation are missing."""
    import numpy as np
    import pandas as pd

    table = pd.read_csv(workdir / "cohort.csv", engine="pyarrow", dtype_backend="numpy_nullable")
    table = table.rename(columns={"subject_id": "participant_id"})
    table.insert(0, "source_row", np.arange(1, len(table) + 1, dtype=np.int64))
    table["participant_id"] = table["participant_id"].astype("str")
    for name in table.columns:
        if name.startswith(ITEM_PREFIXES):
            table[name] = table[name].to_numpy(dtype=np.float64, na_value=np.nan)
    days = pd.to_datetime(table["date"]).to_numpy().astype("datetime64[D]").astype(np.int64)
    first = pd.Series(days).groupby(table["participant_id"].to_numpy()).transform("min").to_numpy()
    table["time"] = (days - first).astype(np.float64)
    table["age"] = table["age"].astype("Int64")
    table["gender"] = table["gender"].astype("category")
    table["arm"] = table["arm"].astype("category")
    return table.sort_values(["participant_id", "wave"], kind="stable").reset_index(drop=True)


def _child_score(workdir: Path, args: argparse.Namespace) -> dict:
    import pandas as pd

    from srflow import scoring

    cohort = _cohort(workdir)
    path = workdir / "validated.parquet"
    if path.exists():
        validated, t_read = _timed(pd.read_parquet, path)
        source = "validated.parquet from srflow.validation"
    else:
        validated, t_read = _timed(_validated_stand_in, workdir)
        source = "stand-in validated table read from the CSV (srflow.io/validation unavailable)"
    scores, t_score = _timed(scoring.score, validated, cohort)
    _, t_counts = _timed(scoring.answered_counts, validated, cohort)
    return {
        "t_read_validated": t_read,
        "t_score": t_score,
        "t_answered_counts": t_counts,
        "rows": len(scores),
        "p_missing": int(scores["P"].isna().sum()),
        "e_missing": int(scores["E"].isna().sum()),
        "source": source,
    }


def _child_total(workdir: Path, args: argparse.Namespace) -> dict:
    from srflow import io, scoring, validation

    cohort = _cohort(workdir)
    start = time.perf_counter()
    ingested, t_ingest = _timed(io.read_cohort, cohort)
    result, t_validate = _timed(validation.validate, ingested, cohort)
    del ingested
    scores, t_score = _timed(scoring.score, result.table, cohort)
    t_total = time.perf_counter() - start
    return {
        "t_ingest": t_ingest,
        "t_validate": t_validate,
        "t_score": t_score,
        "t_total": t_total,
        "rows": len(scores),
    }


CHILDREN = {
    "generate": _child_generate,
    "ingest": _child_ingest,
    "validate": _child_validate,
    "score": _child_score,
    "total": _child_total,
}


def _run_child(stage: str, workdir: Path, args: argparse.Namespace) -> None:
    if args.cores and hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, available[: args.cores])
    try:
        out = CHILDREN[stage](workdir, args)
        out["status"] = "ok"
    except ImportError as exc:
        out = {"status": "unavailable", "reason": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # report any failure as a figure row instead of crashing the benchmark
        out = {
            "status": "failed",
            "reason": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
    out["peak_mb"] = _peak_mb()
    out["cpu"] = CPU_SECONDS
    print("BENCHMARK-RESULT " + json.dumps(out), flush=True)


# --- parent ------------------------------------------------------------------------------------


def _spawn(stage: str, workdir: Path, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        stage,
        "--workdir",
        str(workdir),
        "--participants",
        str(args.participants),
        "--waves",
        str(args.waves),
        "--seed",
        str(args.seed),
        "--extra-items",
        str(args.extra_items),
        "--cores",
        str(args.cores),
    ]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCHMARK-RESULT ")]
    if not lines:
        return {
            "status": "failed",
            "reason": f"child exited {proc.returncode}: {proc.stderr.strip()[-2000:]}",
            "wall": wall,
        }
    result = json.loads(lines[-1].removeprefix("BENCHMARK-RESULT "))
    result["wall"] = wall
    return result


def _fmt(value, spec=".2f") -> str:
    return "-" if value is None else format(value, spec)


def _report(results: dict, load: tuple[float, float], args: argparse.Namespace) -> str:
    gen = results["generate"]
    lines = [
        f"srflow pipeline benchmark: {args.participants:,} participants x {args.waves} waves, seed {args.seed}, "
        f"{args.cores} core(s) (machine has {os.cpu_count()})",
        f"cohort: {gen.get('rows', 0):,} rows x {gen.get('columns', 0)} columns ({gen.get('item_columns', 0)} item columns), "
        f"CSV {_fmt(gen.get('csv_mb'), '.0f')} MB; simulate {_fmt(gen.get('t_simulate'))} s, write CSV {_fmt(gen.get('t_write'))} s",
        f"load average (1 min) before / after: {load[0]:.1f} / {load[1]:.1f} "
        "(well above the core count means other work inflated the wall times; CPU s is less affected)",
        "",
        f"{'measurement (own process)':<28}{'wall s':>9}{'CPU s':>9}{'peak RSS MB':>13}  note",
        "-" * 100,
    ]

    def row(label, seconds, cpu, result, note=""):
        if result.get("status") != "ok":
            note = f"{result.get('status')}: {result.get('reason', '')}"[:120]
            seconds = cpu = None
        lines.append(
            f"{label:<28}{_fmt(seconds):>9}{_fmt(cpu):>9}{_fmt(result.get('peak_mb'), '.0f'):>13}  {note}"
        )

    ing, val, sco, tot = (results[k] for k in ("ingest", "validate", "score", "total"))
    cpu = {k: results[k].get("cpu", {}) for k in results}
    row(
        "ingest (read_cohort)",
        ing.get("t_ingest"),
        cpu["ingest"].get("read_cohort"),
        ing,
        f"{ing.get('rows', 0):,} canonical rows",
    )
    row(
        "validate (validate)",
        val.get("t_validate"),
        cpu["validate"].get("validate"),
        val,
        f"peak incl. ingest; {val.get('failures', '-')} failures",
    )
    row(
        "score (score)",
        sco.get("t_score"),
        cpu["score"].get("score"),
        sco,
        f"peak incl. validated table; answered_counts {_fmt(sco.get('t_answered_counts'))} s; {sco.get('source', '')}",
    )
    total_cpu = (
        sum(cpu["total"].get(k, 0.0) for k in ("read_cohort", "validate", "score"))
        if cpu["total"]
        else None
    )
    row(
        "total (one process)",
        tot.get("t_total"),
        total_cpu,
        tot,
        f"ingest {_fmt(tot.get('t_ingest'))} + validate {_fmt(tot.get('t_validate'))} + score {_fmt(tot.get('t_score'))} s wall",
    )
    lines.append("-" * 100)
    if tot.get("status") == "ok":
        ok_time = tot["t_total"] <= TARGET_SECONDS
        ok_mem = tot["peak_mb"] <= TARGET_PEAK_MB
        lines.append(
            f"target: total <= {TARGET_SECONDS:.0f} s: {'PASS' if ok_time else 'FAIL'} ({tot['t_total']:.2f} s); "
            f"peak <= {TARGET_PEAK_MB:.0f} MB: {'PASS' if ok_mem else 'FAIL'} ({tot['peak_mb']:.0f} MB)"
        )
    else:
        lines.append("target: not assessed (the total measurement did not run)")
    for name, result in results.items():
        if result.get("status") == "failed" and result.get("traceback"):
            lines.append(f"\n{name} failed:\n{result['traceback']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--extra-items", type=int, default=0, help="extra Q_ items in the file (not scored)"
    )
    parser.add_argument(
        "--cores",
        type=int,
        default=2,
        help="pin each measurement to this many CPUs (0 = no pinning)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the generated files here (default: a temporary directory)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the figures as JSON here"
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        _run_child(args.child, args.workdir, args)
        return 0

    with tempfile.TemporaryDirectory(prefix="srflow-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "validated.parquet").unlink(missing_ok=True)
        load_before = os.getloadavg()[0]
        results = {"generate": _spawn("generate", workdir, args)}
        if results["generate"].get("status") != "ok":
            print(
                "could not generate the cohort:", results["generate"].get("reason"), file=sys.stderr
            )
            print(results["generate"].get("traceback", ""), file=sys.stderr)
            return 1
        for stage in ("ingest", "validate", "score", "total"):
            print(f"running {stage} ...", file=sys.stderr, flush=True)
            results[stage] = _spawn(stage, workdir, args)
        load = (load_before, os.getloadavg()[0])
    print(_report(results, load, args))
    if args.json:
        figures = {
            **results,
            "load_average": list(load),
            "args": {k: str(v) for k, v in vars(args).items()},
        }
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    failed = [k for k, r in results.items() if r.get("status") == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
