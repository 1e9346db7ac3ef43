"""Benchmark srflow's mixed-model engine against statsmodels, lme4 and mixedlm.

Model: P ~ E + (E | participant), REML, on simulated cohorts of N participants x 10 waves.

    python benchmarks/mixed.py                       # 1k, 10k, 100k participants
    python benchmarks/mixed.py --sizes 1000 10000    # fewer sizes

Peers are timed only where available: statsmodels (up to --statsmodels-max participants;
100k x 10 takes far too long with its per-group Python loop), R lme4 via ``Rscript``, and
the PyPI package ``mixedlm`` (an lme4 port) from a separate virtualenv given by
``--mixedlm-python`` (never a dependency of srflow). Each peer reads the same CSV.
Figures are printed, not asserted. srflow's fit time includes the certification of its
optimum (three starts, the nested fit and the OLS bound; see srflow.mixed.certify).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from srflow.mixed import fit_lmm, fit_mixed_model

SPEC = {"outcome": "P", "fixed": ["E"], "random": ["E"], "method": "reml"}

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$participant_id <- factor(d$participant_id)
t <- system.time(m <- lmer(P ~ E + (E | participant_id), data = d, REML = TRUE))[["elapsed"]]
cat(sprintf('{"fit_seconds": %.4f, "beta": [%.10g, %.10g], "loglik": %.10g}\n',
            t, fixef(m)[1], fixef(m)[2], as.numeric(logLik(m))))
"""

MIXEDLM_SCRIPT = r"""
import json, sys, time, warnings
import pandas as pd
import mixedlm
d = pd.read_csv(sys.argv[1])
d["participant_id"] = d["participant_id"].astype(str)
t = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    m = mixedlm.lmer("P ~ E + (E | participant_id)", d, REML=True)
t = time.perf_counter() - t
beta = [float(v) for v in m.fixef().values()]
print(json.dumps({"fit_seconds": t, "beta": beta, "loglik": float(m.logLik().value)}))
"""

STARTUP_PY = (
    "import pandas as pd, sys; from srflow.mixed import fit_mixed_model; "
    "d = pd.read_csv(sys.argv[1]); "
    "r = fit_mixed_model(d, {'outcome': 'P', 'fixed': ['E'], 'random': ['E']}); "
    "print(r.fixed.estimate.tolist())"
)


def simulate(n_people: int, n_waves: int, seed: int) -> pd.DataFrame:
    """Random intercept (SD 1) + random E slope (SD 0.3, corr 0.3), residual SD 1."""
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_people), n_waves)
    cov = np.array([[1.0, 0.09], [0.09, 0.09]])
    b = rng.multivariate_normal([0.0, 0.0], cov, size=n_people)
    exposure = rng.gamma(2.0, 1.0, size=pid.size) + 0.5 * rng.normal(size=n_people)[pid]
    problems = 5.0 + 0.6 * exposure + b[pid, 0] + b[pid, 1] * exposure + rng.normal(size=pid.size)
    return pd.DataFrame(
        {
            "participant_id": pid,
            "wave": np.tile(np.arange(1, n_waves + 1), n_people),
            "E": exposure.round(6),
            "P": problems.round(6),
        }
    )


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def run_process(cmd: list[str], timeout: float) -> tuple[float, dict | None, str]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return timeout, None, f"timed out after {timeout:.0f} s"
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        return (
            elapsed,
            None,
            proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed",
        )
    try:
        return elapsed, json.loads(proc.stdout.strip().splitlines()[-1]), ""
    except (json.JSONDecodeError, IndexError):
        return elapsed, None, proc.stdout.strip()[-200:]


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:9.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--statsmodels-max", type=int, default=10000)
    parser.add_argument("--startup-size", type=int, default=20000)
    parser.add_argument("--mixedlm-python", default="/tmp/mixedlm-venv/bin/python")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args()

    rscript = shutil.which("Rscript")
    has_lme4 = (
        rscript is not None
        and subprocess.run([rscript, "-e", "library(lme4)"], capture_output=True).returncode == 0
    )
    has_mixedlm = (
        Path(args.mixedlm_python).exists()
        and subprocess.run(
            [args.mixedlm_python, "-c", "import mixedlm"], capture_output=True
        ).returncode
        == 0
    )
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} cores; "
        f"lme4: {'yes' if has_lme4 else 'not available'}; mixedlm: {'yes' if has_mixedlm else 'not available'}"
    )

    workdir = Path(tempfile.mkdtemp(prefix="srflow-mixed-bench-"))
    r_file = workdir / "fit.R"
    r_file.write_text(R_SCRIPT)
    ml_file = workdir / "fit_mixedlm.py"
    ml_file.write_text(MIXEDLM_SCRIPT)
    rows = []
    for n_people in args.sizes:
        data = simulate(n_people, args.waves, args.seed)
        csv = workdir / f"cohort_{n_people}.csv"
        data.to_csv(csv, index=False)
        X = np.column_stack([np.ones(len(data)), data["E"]])
        row = {"participants": n_people, "rows": len(data)}
        row["ours_fit"], ours = timed(
            fit_lmm, data["P"].to_numpy(), X, X, data["participant_id"].to_numpy()
        )
        row["ours_spec"], _ = timed(fit_mixed_model, data, SPEC)
        row["ours_beta"], row["ours_loglik"] = ours.beta.tolist(), ours.loglik
        row["ours_certified"] = ours.certified  # every fit is certified (srflow.mixed.certify)
        if n_people <= args.statsmodels_max:
            import statsmodels.api as sm

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = sm.MixedLM(
                    data["P"].to_numpy(), X, groups=data["participant_id"].to_numpy(), exog_re=X
                )
                row["statsmodels_fit"], sm_fit = timed(model.fit, reml=True)
            row["statsmodels_beta"], row["statsmodels_loglik"] = (
                list(map(float, sm_fit.fe_params)),
                float(sm_fit.llf),
            )
        if has_lme4:
            row["lme4_process"], out, err = run_process(
                [rscript, str(r_file), str(csv)], args.timeout
            )
            if out:
                row["lme4_fit"], row["lme4_beta"], row["lme4_loglik"] = (
                    out["fit_seconds"],
                    out["beta"],
                    out["loglik"],
                )
            else:
                row["lme4_error"] = err
        if has_mixedlm:
            row["mixedlm_process"], out, err = run_process(
                [args.mixedlm_python, str(ml_file), str(csv)], args.timeout
            )
            if out:
                row["mixedlm_fit"], row["mixedlm_beta"], row["mixedlm_loglik"] = (
                    out["fit_seconds"],
                    out["beta"],
                    out["loglik"],
                )
            else:
                row["mixedlm_error"] = err
        rows.append(row)
        print(json.dumps(row), flush=True)

    print("\nREML fit of P ~ E + (E | participant), 10 waves; seconds (wall clock)")
    header = (
        f"{'participants':>12} {'rows':>9} {'srflow fit':>10} {'srflow spec':>11} {'statsmodels':>11} "
        f"{'lme4 fit':>9} {'lme4 proc':>9} {'mixedlm fit':>11} {'mixedlm proc':>12} {'sm/srflow':>9}"
    )
    print(header)
    for r in rows:
        ratio = r["statsmodels_fit"] / r["ours_fit"] if "statsmodels_fit" in r else None
        print(
            f"{r['participants']:>12} {r['rows']:>9} {fmt(r['ours_fit']):>10} {fmt(r['ours_spec']):>11} "
            f"{fmt(r.get('statsmodels_fit')):>11} {fmt(r.get('lme4_fit')):>9} {fmt(r.get('lme4_process')):>9} "
            f"{fmt(r.get('mixedlm_fit')):>11} {fmt(r.get('mixedlm_process')):>12} "
            f"{'-' if ratio is None else f'{ratio:9.0f}x':>9}"
        )
    print(
        "srflow fit = fit_lmm on arrays; srflow spec = fit_mixed_model on the DataFrame (design, checks, "
        "and the extra intercept-only fit for the ICC); statsmodels skipped above "
        f"{args.statsmodels_max} participants (its per-group Python loop takes far too long)."
    )
    print("\nAgreement (fixed effects and REML log-likelihood):")
    for r in rows:
        for peer in ("ours", "statsmodels", "lme4", "mixedlm"):
            if f"{peer}_beta" in r:
                print(
                    f"  {r['participants']:>7} {peer:<12} beta = {np.round(r[f'{peer}_beta'], 6).tolist()}, "
                    f"loglik = {r[f'{peer}_loglik']:.4f}"
                )

    # Whole-process comparison, start-up included.
    data = simulate(args.startup_size, args.waves, args.seed + 1)
    csv = workdir / f"startup_{args.startup_size}.csv"
    data.to_csv(csv, index=False)
    print(
        f"\nWhole process, {args.startup_size} participants x {args.waves} waves "
        "(start-up + read CSV + REML fit):"
    )
    py_time = min(
        run_process([sys.executable, "-c", STARTUP_PY, str(csv)], args.timeout)[0] for _ in range(3)
    )
    print(
        f"  python -c (import srflow.mixed, pandas.read_csv, fit_mixed_model): {py_time:.2f} s (best of 3)"
    )
    if has_lme4:
        r_time, out, err = min(
            (run_process([rscript, str(r_file), str(csv)], args.timeout) for _ in range(3)),
            key=lambda t: t[0],
        )
        extra = f" (lmer alone {out['fit_seconds']:.2f} s)" if out else f" ({err})"
        print(f"  Rscript (library(lme4), read.csv, lmer): {r_time:.2f} s (best of 3){extra}")
    else:
        print("  Rscript with lme4 not available: install r-base-core and r-cran-lme4 to compare.")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
