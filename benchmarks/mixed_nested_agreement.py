"""Agreement of srflow's nested_in fits with the lme4/lmerTest/performance references.

Run from the repository root: ``python benchmarks/mixed_nested_agreement.py``. Prints, per
case of tests/data/mixed_nested/fit.csv, the log-likelihood difference (srflow - lme4), the
site SD of both, and the largest deviations: fixed effects in SE units, SEs, Satterthwaite
df, p (beyond 1% of the reference), F and anova den df (relative), R2 (absolute), and the
time of the fit with its inference (no profile intervals).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from srflow.mixed import fit_mixed_model

REF = Path("tests/data/mixed_nested")
SPEC = {"outcome": "P", "fixed": ["E", "wave", "arm"], "random": ["E"], "nested_in": "site"}


def main() -> None:
    fits = pd.read_csv(REF / "fit.csv")
    fixed = pd.read_csv(REF / "fixed.csv")
    anova = pd.read_csv(REF / "anova.csv")
    r2 = pd.read_csv(REF / "r2.csv").set_index("case")
    for _, row in fits.iterrows():
        data = pd.read_csv(REF / f"{row['data']}.csv", dtype={"participant_id": str})
        start = time.perf_counter()
        result = fit_mixed_model(data, {**SPEC, "method": row["method"]}, profile=False)
        elapsed = time.perf_counter() - start
        fit, ref_fixed = result.fit, fixed[fixed["case"] == row["case"]]
        ref_anova = anova[anova["case"] == row["case"]]
        se = ref_fixed["se"].to_numpy()
        rel = lambda a, b: float(np.max(np.abs(np.asarray(a) / np.asarray(b) - 1)))  # noqa: E731
        p_excess = np.abs(result.fixed["p"].to_numpy() - ref_fixed["p"].to_numpy())
        p_excess -= 0.01 * ref_fixed["p"].to_numpy()
        print(
            f"{row['case']:<11} {result.status} dLL={fit['loglik'] - row['loglik']:+.1e} "
            f"site={fit['variance_components']['nested_in']['sd']['Intercept']:.6f} "
            f"(lme4 {row['sd_site']:.6f}) "
            f"est/se={np.max(np.abs(result.fixed['estimate'] - ref_fixed['estimate'].to_numpy()) / se):.1e} "
            f"se={rel(result.fixed['se'], se):.1e} df={rel(result.fixed['df'], ref_fixed['df']):.1e} "
            f"p={max(p_excess.max(), 0):.1e} F={rel(result.anova['F'], ref_anova['F']):.1e} "
            f"den_df={rel(result.anova['den_df'], ref_anova['den_df']):.1e} "
            f"r2={abs(fit['r2_marginal'] - r2.loc[row['case'], 'r2_marginal']):.1e}/"
            f"{abs(fit['r2_conditional'] - r2.loc[row['case'], 'r2_conditional']):.1e} "
            f"{elapsed:.1f}s"
        )


if __name__ == "__main__":
    main()
