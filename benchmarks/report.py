"""Benchmark: render the HTML report for a 100,000-participant synthetic results set.

Every section is present: 6 waves with dropout, validation ledger and failures, five SR
specs (wave, period with form auto, sliding, multilevel, change), two mixed models, and a trajectory spec
with K = 1..5. The SR results are computed by srflow.sr (every spec of the config);
mixed-model and trajectory results are made with numpy in the writers' shape and checked by
their contracts in srflow.results (no model is fitted). Only the rendering is timed. Target: <= 15 s and <= 10 MB.

Run: python benchmarks/report.py [--participants 100000] [--waves 6] [--out report.html]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from srflow import results
from srflow import sr as srflow_sr
from srflow.config import load_config
from srflow.report import MixedResults, ReportInputs, SRResults, TrajectoryResults, build_report


def make_config():
    raw = {
        "seed": 20261121,
        "cohorts": {
            "big": {
                "input": "data/big.parquet",
                "columns": {
                    "participant": "id",
                    "wave": "wave",
                    "time": "date",
                    "covariates": {"age": "integer"},
                },
                "on_invalid": "exclude",
                "instruments": {
                    "ghq12": {
                        "role": "problems",
                        "items": {"prefix": "GHQ_"},
                        "range": [0, 3],
                        "score": "prorated_sum",
                    },
                    "hassles": {"role": "stressors", "items": {"prefix": "GE_"}, "range": [0, 5]},
                    "life_events": {
                        "role": "stressors",
                        "items": {"prefix": "LE_"},
                        "range": [0, 5],
                        "method": "count",
                    },
                },
                "exposure": {"combine": "zmean"},
            }
        },
        "sr": {
            "per_wave": {"level": "wave", "form": "quadratic"},
            "person": {"level": "period", "form": "auto", "min_waves": 3, "outliers": "winsorize"},
            "sliding3": {"level": "sliding", "window": 3},
            "observation": {"level": "multilevel", "form": "linear"},
            "change": {"level": "change", "adjust_previous": True},
        },
        "mixed_models": {
            "reactivity": {"fixed": ["E", "wave"], "random": ["E"]},
            "null": {"fixed": [], "method": "ml"},
        },
        "trajectories": {
            "problems": {"variable": "P", "classes": [1, 5], "degree": 2, "starts": 50}
        },
        "report": {"min_cell": 5, "max_points": 5000},
    }
    config = load_config(raw)
    return config, config.cohort("big")


def make_inputs(n: int, n_waves: int, seed: int = 1) -> ReportInputs:
    rng = np.random.default_rng(seed)
    config, cohort = make_config()
    ids = np.char.add(
        "subj", np.char.zfill(np.arange(n).astype(str), 7)
    )  # distinctive: a search cannot hit by chance
    last_wave = np.minimum(rng.geometric(0.12, size=n), n_waves)  # dropout
    rows_per = last_wave
    pid_index = np.repeat(np.arange(n), rows_per)
    offsets = np.cumsum(np.r_[0, rows_per[:-1]])
    wave = np.arange(len(pid_index)) - np.repeat(offsets, rows_per) + 1
    m = len(pid_index)
    e = rng.gamma(2.0, 3.0, size=m)
    slope = 0.6 + 0.2 * rng.standard_normal(n)
    p = 4 + slope[pid_index] * e + rng.normal(0, 3, size=m)
    p[rng.random(m) < 0.03] = np.nan
    scores = pd.DataFrame(
        {
            "participant_id": ids[pid_index],
            "wave": wave.astype("int64"),
            "time": (wave - 1) * 30.0 + rng.integers(0, 7, size=m),
            "P": p,
            "E": e,
            "ghq12": p,
            "hassles": e * 0.7,
            "life_events": np.round(e * 0.1),
            "age": rng.integers(18, 80, size=n)[pid_index],
        }
    )
    ledger = pd.DataFrame(
        {
            "source_row": np.arange(1, m + 1001),
            "participant_id": np.r_[ids[pid_index], ids[:1000]],
            "wave": np.r_[wave, np.full(1000, 1)],
            "status": np.r_[np.full(m, "kept"), np.full(1000, "excluded")],
            "reason": np.r_[
                np.full(m, ""), np.where(np.arange(1000) < 700, "item_range", "duplicate_id")
            ],
            "flags": np.where(rng.random(m + 1000) < 0.01, "straightlining:ghq12", ""),
        }
    )
    failures = pd.DataFrame(
        {
            "source_row": np.arange(m + 1, m + 1001),
            "participant_id": ids[:1000],
            "wave": 1,
            "column": np.where(np.arange(1000) < 700, "GHQ_03", "id"),
            "value": "9",
            "check": np.where(np.arange(1000) < 700, "item_range", "duplicate_id"),
            "message": "failed",
        }
    )
    # SR: the library's own output for every spec (vectorised; timed apart from the report)
    sr_results = {}
    for name, spec in cohort.sr.items():
        computed = srflow_sr.safe_compute_sr(scores, spec, name)
        sr_results[name] = SRResults(
            table=results.SR_TABLE.check(computed.table),
            line=results.SRLine.from_json(computed.line, f"sr/{name}.line.json"),
        )
    # mixed models: fit files in the writer's shape, checked by the contract (no model is fitted)
    fixed = results.FIXED_TABLE.check(
        pd.DataFrame(
            {
                "term": ["Intercept", "E", "wave"],
                "estimate": [4.0, 0.6, 0.01],
                "se": [0.01, 0.002, 0.003],
                "statistic": [400.0, 300.0, 3.3],
                "p": [0.0, 0.0, 0.001],
                "ci_low": [3.98, 0.596, 0.004],
                "ci_high": [4.02, 0.604, 0.016],
            }
        )
    )
    fit = {
        "model": "reactivity",
        "status": "ok",
        "reason": None,
        "method": "reml",
        "outcome": "P",
        "fixed_terms": ["E", "wave"],
        "random_terms": ["E"],
        "loglik": -1.2e6,
        "loglik_type": "REML",
        "aic": 2.4e6,
        "bic": 2.4e6,
        "n_params": 7,
        "n_obs": m,
        "n_groups": n,
        "n_dropped_missing": 0,
        "variance_components": {
            "sd": {"Intercept": 0.5, "E": 0.2},
            "corr": {"Intercept:E": 0.1},
            "residual_sd": 3.0,
        },
        "icc": 0.03,
        "converged": True,
        "singular": False,
        "gradient_norm": 1e-5,
        "optimizer": "L-BFGS-B",
        "warnings": [],
    }
    null_fit = {
        **fit,
        "model": "null",
        "method": "ml",
        "loglik_type": "ML",
        "fixed_terms": [],
        "random_terms": [],
        "variance_components": {"sd": {"Intercept": 0.5}, "corr": {}, "residual_sd": 3.0},
    }
    random = results.RANDOM_TABLE.check(
        pd.DataFrame(
            {
                "participant_id": ids,
                "Intercept": rng.normal(0, 0.5, n),
                "E": rng.normal(0, 0.2, n),
                "Intercept_sd": 0.1,
                "E_sd": 0.05,
            }
        )
    )
    anova = results.ANOVA_TABLE.check(
        pd.DataFrame(
            {
                "term": ["E", "wave"],
                "num_df": [1.0, 1.0],
                "den_df": [float(n - 1), float(m - n)],
                "F": [9e4, 10.9],
                "p": [0.0, 0.001],
            }
        )
    )
    mixed = {
        "reactivity": MixedResults(
            fixed=fixed, anova=anova, fit=results.MixedFit.from_json(fit), random=random
        ),
        "null": MixedResults(
            fixed=fixed.iloc[:1],
            anova=anova.iloc[:0],
            fit=results.MixedFit.from_json(null_fit),
            random=random[["participant_id", "Intercept", "Intercept_sd"]],
        ),
    }
    selection_rows, class_frames, curve_rows = [], [], []
    for k in range(1, 6):
        assigned = (
            rng.integers(1, k + 1, size=n)
            if k < 5
            else np.where(rng.random(n) < 0.00003, 5, rng.integers(1, 5, size=n))
        )
        post = rng.dirichlet(np.ones(k) * 0.3, size=n)
        frame = pd.DataFrame(
            {
                "participant_id": ids,
                "K": k,
                "class": assigned,
                "label": np.array(["resilient", "recovery", "chronic", "delayed", "other"])[
                    assigned - 1
                ],
            }
        )
        for j in range(k):
            frame[f"post_{j + 1}"] = post[:, j]
        class_frames.append(frame)
        sizes = np.bincount(assigned, minlength=k + 1)[1:]
        selection_rows.append(
            {
                "method": "lcga",
                "degree": 2,
                "K": k,
                "loglik": -1e6 + 5e4 * np.log(k),
                "npm": 4 * k,
                "aic": 2e6 - 1e5 * np.log(k),
                "bic": 2e6 - 1e5 * np.log(k) + 50 * k,
                "sabic": 2e6 - 1e5 * np.log(k),
                "entropy": 0.8,
                "smallest_class_size": int(sizes.min()),
                "smallest_class_share": sizes.min() / n,
                "class_sizes": "/".join(map(str, sizes)),
                "converged": True,
                "n_starts": 50,
                "n_starts_at_best": 30,
                "degenerate": bool(sizes.min() < 0.01 * n),
                "status": "ok",
                "error": "",
            }
        )
        for c in range(1, k + 1):
            for t in range(1, n_waves + 1):
                curve_rows.append(
                    {
                        "K": k,
                        "class": c,
                        "time": float(t),
                        "fitted": 4 + c * 0.3 * (t - 1),
                        "se": 0.1,
                        "ci_low": 3.8 + c * 0.3 * (t - 1),
                        "ci_high": 4.2 + c * 0.3 * (t - 1),
                        "se_status": "ok",
                        "observed_mean": 4.1 + c * 0.3 * (t - 1),
                        "observed_sd": 1.0,
                        "n_observed": float(sizes[c - 1]),
                        "label": "resilient",
                    }
                )
    trajectories = {
        "problems": TrajectoryResults(
            selection=results.SELECTION_TABLE.check(pd.DataFrame(selection_rows)),
            classes=results.CLASSES_TABLE.check(pd.concat(class_frames, ignore_index=True)),
            curves=results.CURVES_TABLE.check(pd.DataFrame(curve_rows)),
        )
    }
    provenance = {
        "input_sha256": hashlib.sha256(b"benchmark").hexdigest(),
        "input_file": "big.parquet",
        "seed": 20261121,
        "packages": {"srflow": "0.1.0"},
    }
    return ReportInputs(
        cohort="big",
        cohort_config=cohort,
        config_data=config.data,
        scores=results.SCORES_TABLE.check(scores),
        ledger=results.LEDGER_TABLE.check(ledger),
        failures=results.FAILURES_TABLE.check(failures),
        sr=sr_results,
        mixed=mixed,
        trajectories=trajectories,
        provenance=provenance,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--waves", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    inputs = make_inputs(args.participants, args.waves)
    made = time.perf_counter() - start
    rows = len(inputs.scores)
    start = time.perf_counter()
    html = build_report(inputs)
    render = time.perf_counter() - start
    data = html.encode("utf-8")
    out = args.out or Path(tempfile.gettempdir()) / "srflow_report_benchmark.html"
    out.write_bytes(data)
    leaked = len(re.findall(r"subj\d{7}", html))  # every id has this shape
    print(
        f"participants: {args.participants:,}  scored rows: {rows:,}  classes rows: {len(inputs.trajectories['problems'].classes):,}"
    )
    print(f"synthetic results made in {made:.2f} s")
    print(f"render time: {render:.2f} s  (target <= 15 s)")
    print(f"file size: {len(data) / 1e6:.2f} MB  (target <= 10 MB)  -> {out}")
    print(
        f"figures: {html.count('<figure')}  svg: {html.count('<svg')}  png: {html.count('data:image/png')}"
    )
    print(f"participant ids found in the HTML (all checked): {leaked}")
    print(f"sha256: {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
