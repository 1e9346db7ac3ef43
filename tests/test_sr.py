"""Tests of srflow.sr: stressor-reactivity scores against hand computations and references.

Reference numbers come from (i) textbook OLS formulas computed inside the test
(slope = Sxy / Sxx, intercept = mean(y) - slope * mean(x)), (ii) statsmodels OLS/RLM on the
same data, (iii) lme4 1.1-31 on lme4's sleepstudy data (/work/shared/reference/sleepstudy_lme4.txt,
data copied to tests/data/sleepstudy.csv), (iv) synthetic ground truth.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from srflow.config import SRSpec, config_schema, load_config, sr_spec
from srflow.errors import ConfigError
from srflow.sr import SIGN_CONVENTION, compute_all_sr, compute_sr, safe_compute_sr

DATA = __import__("pathlib").Path(__file__).parent / "data"


def hand_ols(x, y):
    """Textbook simple regression: (intercept, slope, residual SD, SE of slope)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    sxx = ((x - x.mean()) ** 2).sum()
    slope = ((x - x.mean()) * (y - y.mean())).sum() / sxx
    intercept = y.mean() - slope * x.mean()
    resid = y - intercept - slope * x
    s2 = (resid**2).sum() / (len(x) - 2)
    return intercept, slope, np.sqrt(s2), np.sqrt(s2 / sxx)


def coef(line_entry, term, key="estimate", table="coefficients"):
    return next(c[key] for c in line_entry[table] if c["term"] == term)


def zscore(v):
    v = np.asarray(v, float)
    return (v - v.mean()) / v.std(ddof=1)


def scores_frame(pid, wave, P, E, **extra):
    return pd.DataFrame(
        {
            "participant_id": pd.array(pid, dtype="str"),
            "wave": np.asarray(wave, np.int64),
            "time": np.nan,
            "P": np.asarray(P, float),
            "E": np.asarray(E, float),
            **extra,
        }
    )


def simulated(n=300, waves=6, seed=1, missing=0.0):
    rng = np.random.default_rng(seed)
    person = np.repeat(np.arange(n), waves)
    E = np.maximum(rng.gamma(2, 2, n)[person] + rng.normal(0, 1.5, n * waves), 0)
    intercept = rng.normal(0, 2, n)
    slope = 0.5 + rng.normal(0, 0.15, n)
    P = 4 + intercept[person] + slope[person] * E + rng.normal(0, 1.5, n * waves)
    P[rng.random(n * waves) < missing] = np.nan
    return scores_frame(
        [f"id{i:04d}" for i in person],
        np.tile(np.arange(1, waves + 1), n),
        P,
        E,
        arm=np.where(rng.random(n)[person] < 0.5, "control", "treatment"),
    )


# --------------------------------------------------------------------------------------
# Known answers per level
# --------------------------------------------------------------------------------------

WAVE_E = {1: [1.0, 2.0, 4.0, 5.0, 8.0], 2: [0.0, 3.0, 3.0, 6.0, 7.0]}
WAVE_P = {1: [3.0, 4.5, 4.0, 7.5, 9.0], 2: [1.0, 2.0, 5.0, 4.0, 8.5]}


def test_wave_level_matches_textbook_ols_per_wave():
    pid = [f"p{i}" for i in range(5)] * 2
    wave = [1] * 5 + [2] * 5
    df = scores_frame(pid, wave, WAVE_P[1] + WAVE_P[2], WAVE_E[1] + WAVE_E[2])
    res = compute_sr(df, {"level": "wave"}, "bywave")
    assert res.status == "ok" and res.line["n_lines"] == 2 and res.line["form_used"] == "linear"
    expected_sr = []
    for g, w in enumerate((1, 2)):
        a, b, s, se_b = hand_ols(WAVE_E[w], WAVE_P[w])
        entry = res.line["lines"][g]
        assert entry["label"] == {"wave": w}
        assert coef(entry, "Intercept") == pytest.approx(a, rel=1e-12)
        assert coef(entry, "E") == pytest.approx(b, rel=1e-12)
        assert coef(entry, "E", "se") == pytest.approx(se_b, rel=1e-10)
        assert entry["sigma"] == pytest.approx(s, rel=1e-10)
        # 95% CI with t on n - 2 = 3 df
        assert coef(entry, "E", "ci_high") == pytest.approx(
            b + stats.t.ppf(0.975, 3) * se_b, rel=1e-10
        )
        r = np.corrcoef(WAVE_E[w], WAVE_P[w])[0, 1]
        assert entry["r2"] == pytest.approx(r**2, rel=1e-10)
        assert entry["r2_adj"] == pytest.approx(1 - (1 - r**2) * 4 / 3, rel=1e-10)
        expected_sr.append(np.array(WAVE_P[w]) - a - b * np.array(WAVE_E[w]))
    t = res.table
    assert list(t.columns) == ["participant_id", "wave", "E", "P", "P_expected", "sr", "sr_z"]
    # table is sorted by participant then wave
    hand = pd.DataFrame({"participant_id": pid, "wave": wave, "sr": np.concatenate(expected_sr)})
    hand = hand.sort_values(["participant_id", "wave"], ignore_index=True)
    assert t["participant_id"].tolist() == hand["participant_id"].tolist()
    assert t["wave"].tolist() == hand["wave"].tolist()
    np.testing.assert_allclose(t["sr"], hand["sr"], atol=1e-12)
    np.testing.assert_allclose(t["P"] - t["P_expected"], t["sr"], atol=1e-12)
    # sr_z within each wave (standardize: line, the default), ddof = 1
    per_wave = hand.groupby("wave")["sr"].transform(zscore)
    np.testing.assert_allclose(t["sr_z"], per_wave, rtol=0, atol=1e-10)
    assert res.line["standardize"] == "line" and "within each normative line" in res.line["sr_z"]
    # standardize: pooled z-scores over both waves at once
    pooled = compute_sr(df, {"level": "wave", "standardize": "pooled"}, "bywave")
    np.testing.assert_allclose(pooled.table["sr_z"], zscore(hand["sr"]), rtol=0, atol=1e-12)
    assert pooled.line["standardize"] == "pooled" and "pooled" in pooled.line["sr_z"]
    assert res.line["sign_convention"] == SIGN_CONVENTION


def test_period_level_is_one_row_per_person_not_one_per_row():
    # Participants have different numbers of waves: a row-level fit would weight p0 (4 waves)
    # four times as much as p3 (1 wave). The line must use one row per person.
    # fmt: off
    rows = [("p0", 1, 2.0, 10.0), ("p0", 2, 4.0, 11.0), ("p0", 3, 6.0, 12.0), ("p0", 4, 8.0, 19.0),
            ("p1", 1, 1.0, 2.0), ("p1", 2, 3.0, 4.0),
            ("p2", 2, 5.0, 9.0), ("p2", 3, 5.0, 6.0), ("p2", 4, 7.0, 6.0),
            ("p3", 3, 9.0, 9.5),
            ("p4", 1, 0.0, 1.0), ("p4", 4, 2.0, 4.0)]
    # fmt: on
    df = scores_frame(*zip(*[(r[0], r[1], r[3], r[2]) for r in rows], strict=True))
    res = compute_sr(df, {"level": "period"}, "person")
    means = df.groupby("participant_id")[["E", "P"]].mean()
    a, b, _, se_b = hand_ols(means["E"], means["P"])
    entry = res.line["lines"][0]
    assert coef(entry, "Intercept") == pytest.approx(a, rel=1e-12)
    assert coef(entry, "E") == pytest.approx(b, rel=1e-12)
    assert coef(entry, "E", "se") == pytest.approx(se_b, rel=1e-10)
    assert res.line["n"]["used"] == 5
    t = res.table
    assert list(t.columns) == ["participant_id", "E", "P", "P_expected", "sr", "sr_z"]
    assert t["participant_id"].tolist() == ["p0", "p1", "p2", "p3", "p4"]
    np.testing.assert_allclose(t["E"], means["E"], atol=1e-12)
    np.testing.assert_allclose(t["sr"], means["P"] - a - b * means["E"], atol=1e-12)
    # the row-level slope differs: this data set discriminates the two
    _, b_rows, _, _ = hand_ols(df["E"], df["P"])
    assert abs(b_rows - b) > 0.05


def test_period_waves_and_min_waves():
    df = simulated(n=40, waves=5, seed=3)
    df.loc[df.index[::7], "P"] = np.nan
    res = compute_sr(df, {"level": "period", "waves": [2, 3, 4], "min_waves": 3}, "p")
    sub = df[df["wave"].isin([2, 3, 4])].dropna(subset=["P", "E"])
    counts = sub.groupby("participant_id").size()
    keep = counts[counts >= 3].index
    means = sub[sub["participant_id"].isin(keep)].groupby("participant_id")[["E", "P"]].mean()
    a, b, _, _ = hand_ols(means["E"], means["P"])
    assert coef(res.line["lines"][0], "E") == pytest.approx(b, rel=1e-10)
    assert res.table["participant_id"].tolist() == list(means.index)
    np.testing.assert_allclose(res.table["sr"], means["P"] - a - b * means["E"], atol=1e-10)
    assert res.line["n"]["excluded"]["too_few_waves"] == int((counts < 3).sum())


def test_period_sr_is_uncorrelated_with_mean_E_and_centred():
    # Pitfall: fitting on raw means but applying to z-scored means (or vice versa) breaks the
    # OLS residual properties. A correct linear period SR is exactly orthogonal to mean E.
    res = compute_sr(
        simulated(n=500, seed=4, missing=0.1), {"level": "period", "min_waves": 2}, "p"
    )
    t = res.table
    assert abs(np.corrcoef(t["sr"], t["E"])[0, 1]) < 1e-10
    assert abs(t["sr"].mean()) < 1e-10
    assert t["sr_z"].mean() == pytest.approx(0, abs=1e-12) and t["sr_z"].std(
        ddof=1
    ) == pytest.approx(1, abs=1e-12)


def test_sliding_level_window_means_and_min_in_window():
    # 3 participants x 4 waves, window 2 -> windows starting at 1, 2, 3.
    E = {"a": [1, 2, 3, 4], "b": [2, 2, 6, np.nan], "c": [5, 1, 0, 2], "d": [3, 3, 3, 9]}
    P = {"a": [2, 3, 5, 4], "b": [1, 4, 7, 3], "c": [6, 2, 1, 2], "d": [5, 6, 4, 8]}
    df = scores_frame(
        [p for p in E for _ in range(4)],
        [1, 2, 3, 4] * 4,
        np.concatenate([P[p] for p in E]),
        np.concatenate([E[p] for p in E]),
    )
    res = compute_sr(df, {"level": "sliding", "window": 2, "min_in_window": 2}, "slide")
    assert [e["label"] for e in res.line["lines"]] == [{"window": 1}, {"window": 2}, {"window": 3}]
    rows = []
    for g, start in enumerate((1, 2, 3)):
        unit = {}
        for p in E:
            e, q = (
                np.array(E[p][start - 1 : start + 1], float),
                np.array(P[p][start - 1 : start + 1], float),
            )
            ok = np.isfinite(e) & np.isfinite(q)
            if ok.sum() >= 2:  # min_in_window: b misses E at wave 4, so no window 3 for b
                unit[p] = (e[ok].mean(), q[ok].mean())
        x = np.array([v[0] for v in unit.values()])
        y = np.array([v[1] for v in unit.values()])
        a, b, _, _ = hand_ols(x, y)
        assert coef(res.line["lines"][g], "E") == pytest.approx(b, rel=1e-12)
        rows += [(p, start, m[0], m[1], m[1] - a - b * m[0]) for p, m in unit.items()]
    hand = pd.DataFrame(rows, columns=["participant_id", "window", "E", "P", "sr"]).sort_values(
        ["participant_id", "window"], ignore_index=True
    )
    t = res.table
    assert list(t.columns) == ["participant_id", "window", "E", "P", "P_expected", "sr", "sr_z"]
    assert t["participant_id"].tolist() == hand["participant_id"].tolist()
    assert t["window"].tolist() == hand["window"].tolist()
    np.testing.assert_allclose(
        t[["E", "P", "sr"]].to_numpy(), hand[["E", "P", "sr"]].to_numpy(), atol=1e-12
    )
    # sr_z within each window (the default); pooled over the windows on request
    per_window = hand.groupby("window")["sr"].transform(zscore)
    np.testing.assert_allclose(t["sr_z"], per_window, rtol=0, atol=1e-10)
    pooled = compute_sr(
        df, {"level": "sliding", "window": 2, "min_in_window": 2, "standardize": "pooled"}, "slide"
    )
    np.testing.assert_allclose(pooled.table["sr_z"], zscore(hand["sr"]), rtol=0, atol=1e-12)
    assert res.line["n"]["excluded"]["too_few_waves"] == 1


def test_change_level_consecutive_waves_only():
    # p2 skips wave 2: its 1 -> 3 step is not an interval. E is taken at the interval's end.
    # fmt: off
    rows = [("p1", 1, 2, 1), ("p1", 2, 5, 4), ("p1", 3, 4, 2),
            ("p2", 1, 3, 0), ("p2", 3, 9, 6), ("p2", 4, 8, 3),
            ("p3", 1, 1, 1), ("p3", 2, 2, 2), ("p3", 3, 6, 7),
            ("p4", 2, 4, 5), ("p4", 3, 3, 1)]
    # fmt: on
    pid, wave, P, E = zip(*rows, strict=True)
    df = scores_frame(pid, wave, P, E)
    res = compute_sr(df, {"level": "change"}, "chg")
    hand = []
    for (p0, w0, y0, _), (p1, w1, y1, e1) in zip(rows[:-1], rows[1:], strict=True):
        if p0 == p1 and w1 - w0 == 1:
            hand.append((p1, w0, w1, e1, y0, y1))
    hand = pd.DataFrame(
        hand, columns=["participant_id", "wave_from", "wave", "E", "P_previous", "P"]
    )
    a, b, _, _ = hand_ols(hand["E"], hand["P"] - hand["P_previous"])
    assert coef(res.line["lines"][0], "E") == pytest.approx(b, rel=1e-12)
    t = res.table
    assert list(t.columns) == [
        "participant_id",
        "wave_from",
        "wave",
        "E",
        "P_previous",
        "P",
        "P_expected",
        "sr",
        "sr_z",
    ]
    assert len(t) == 6 and (t["wave"] - t["wave_from"] == 1).all()
    np.testing.assert_array_equal(
        t[["wave_from", "wave"]].to_numpy(), hand[["wave_from", "wave"]].to_numpy()
    )
    dP = hand["P"] - hand["P_previous"]
    np.testing.assert_allclose(t["sr"], dP - a - b * hand["E"], atol=1e-12)
    np.testing.assert_allclose(t["P_expected"], hand["P_previous"] + a + b * hand["E"], atol=1e-12)


def test_change_level_adjust_previous_matches_normal_equations():
    df = simulated(n=60, waves=4, seed=5)
    res = compute_sr(df, {"level": "change", "adjust_previous": True}, "chg")
    t = res.table
    X = np.column_stack([np.ones(len(t)), t["E"], t["P_previous"]])
    y = (t["P"] - t["P_previous"]).to_numpy()
    beta = np.linalg.solve(X.T @ X, X.T @ y)  # normal equations
    entry = res.line["lines"][0]
    assert [c["term"] for c in entry["coefficients"]] == ["Intercept", "E", "P_previous"]
    np.testing.assert_allclose([c["estimate"] for c in entry["coefficients"]], beta, rtol=1e-9)
    np.testing.assert_allclose(t["sr"], y - X @ beta, atol=1e-9)
    ols = sm.OLS(y, X).fit()
    # The conventional SE is kept as se_naive; "se" is cluster-robust (tested below).
    np.testing.assert_allclose([c["se_naive"] for c in entry["coefficients"]], ols.bse, rtol=1e-8)


def change_design(t, quadratic=False, adjust_previous=False, center=0.0):
    """Design [1, E(-center), (E-center)^2, P_previous] and dP of a change-level SR table."""
    E = t["E"].to_numpy() - center
    cols = (
        [np.ones(len(t)), E]
        + ([E**2] if quadratic else [])
        + ([t["P_previous"].to_numpy()] if adjust_previous else [])
    )
    return np.column_stack(cols), (t["P"] - t["P_previous"]).to_numpy()


def assert_cluster_robust_matches_statsmodels(entry, X, y, groups, table="coefficients"):
    """Reference: statsmodels OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": groups},
    use_t=True) = CR1 with G/(G-1) (n-1)/(n-k) and t(G-1) CIs; tolerance 1e-8 relative."""
    coefs = entry[table]
    cluster = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    naive = sm.OLS(y, X).fit()
    n_groups = len(np.unique(groups))
    assert cluster.df_resid_inference == n_groups - 1 and entry["n_clusters"] == n_groups
    np.testing.assert_allclose([c["estimate"] for c in coefs], naive.params, rtol=1e-9)
    np.testing.assert_allclose([c["se"] for c in coefs], cluster.bse, rtol=1e-8)
    ci = cluster.conf_int(alpha=0.05)
    np.testing.assert_allclose([c["ci_low"] for c in coefs], ci[:, 0], rtol=1e-8)
    np.testing.assert_allclose([c["ci_high"] for c in coefs], ci[:, 1], rtol=1e-8)
    np.testing.assert_allclose([c["se_naive"] for c in coefs], naive.bse, rtol=1e-8)
    assert entry["se_type"] == "cluster-robust (CR1) by participant, t with G-1 df"
    return cluster, naive


@pytest.mark.parametrize(
    "adjust_previous,form",
    [(False, "linear"), (True, "linear"), (False, "quadratic"), (True, "quadratic")],
)
def test_change_level_se_are_cluster_robust_by_participant(adjust_previous, form):
    # Unbalanced panel (10% missing P): participants contribute 0..4 intervals.
    df = simulated(n=40, waves=5, seed=23, missing=0.1)
    res = compute_sr(
        df, {"level": "change", "adjust_previous": adjust_previous, "form": form}, "chg"
    )
    t = res.table
    quadratic = form == "quadratic"
    entry = res.line["lines"][0]
    groups = t["participant_id"].to_numpy()
    X, y = change_design(t, quadratic, adjust_previous)
    cluster, naive = assert_cluster_robust_matches_statsmodels(entry, X, y, groups)
    Xc, _ = change_design(t, quadratic, adjust_previous, center=entry["E_center"])
    assert_cluster_robust_matches_statsmodels(entry, Xc, y, groups, table="coefficients_centered")
    # SR scores are the OLS residuals, untouched by the SE change.
    np.testing.assert_allclose(t["sr"], naive.resid, atol=1e-9)
    # The panel is clustered enough for the correction to matter (else the test proves little).
    assert not np.allclose(cluster.bse, naive.bse, rtol=0.02)


def test_change_level_auto_and_exclude_cluster_on_the_fitting_intervals():
    df = simulated(n=50, waves=5, seed=29)
    k = 2.0
    res = compute_sr(df, {"level": "change", "form": "auto", "outliers": "exclude", "k": k}, "chg")
    t = res.table
    X, y = change_design(t, quadratic=True)

    # Hand rule: drop intervals with |z| >= k on dP or E (z with ddof=1 over all intervals).
    def abs_z(v):
        return np.abs(v - v.mean()) / v.std(ddof=1)

    keep = (abs_z(y) < k) & (abs_z(X[:, 1]) < k)
    assert res.line["n"]["excluded"]["outliers"] == int((~keep).sum()) > 0
    groups = t["participant_id"].to_numpy()[keep]
    for form, cols in (("linear", [0, 1]), ("quadratic", [0, 1, 2])):
        entry = res.line["fits"][form][0]
        assert_cluster_robust_matches_statsmodels(entry, X[keep][:, cols], y[keep], groups)


def test_change_level_cluster_outputs_byte_identical(tmp_path):
    df = simulated(n=60, waves=4, seed=31, missing=0.1)
    spec = {"level": "change", "adjust_previous": True, "form": "auto", "outliers": "winsorize"}
    runs = [
        compute_sr(df, spec, "c"),
        compute_sr(df, spec, "c"),
        compute_sr(df.sample(frac=1.0, random_state=4), spec, "c"),
    ]
    for i, r in enumerate(runs):
        r.write(tmp_path / f"{i}.csv", tmp_path / f"{i}.line.json")
    for i in (1, 2):
        assert (tmp_path / f"{i}.csv").read_bytes() == (tmp_path / "0.csv").read_bytes()
        assert (tmp_path / f"{i}.line.json").read_bytes() == (tmp_path / "0.line.json").read_bytes()
    assert (
        "se_naive"
        in json.loads((tmp_path / "0.line.json").read_text())["lines"][0]["coefficients"][0]
    )


def test_change_level_huber_keeps_its_robust_se():
    # Huber is left as is: statsmodels RLM's SEs (not clustered), normal CIs, no se_naive.
    df = simulated(n=40, waves=4, seed=37)
    res = compute_sr(df, {"level": "change", "outliers": "huber"}, "chg")
    t = res.table
    X, y = change_design(t)
    rlm = sm.RLM(y, X, M=sm.robust.norms.HuberT()).fit()
    entry = res.line["lines"][0]
    np.testing.assert_allclose([c["se"] for c in entry["coefficients"]], rlm.bse, rtol=1e-6)
    assert "se_naive" not in entry["coefficients"][0] and entry["ci_method"] == "normal"


def test_multilevel_fixed_effects_match_lme4_sleepstudy():
    # lme4 1.1-31, REML: Reaction ~ Days + (Days | Subject) -> 251.405 (6.82460), 10.4673 (1.54579)
    # (6 significant digits, /work/shared/reference/sleepstudy_lme4.txt)
    sleep = pd.read_csv(DATA / "sleepstudy.csv")
    df = scores_frame(
        sleep["Subject"].astype(str), sleep["Days"] + 1, sleep["Reaction"], sleep["Days"]
    )
    res = compute_sr(df, {"level": "multilevel"}, "obs")
    entry = res.line["lines"][0]
    assert coef(entry, "Intercept") == pytest.approx(251.405, rel=2e-5)
    assert coef(entry, "E") == pytest.approx(10.4673, rel=2e-5)
    assert coef(entry, "Intercept", "se") == pytest.approx(6.82460, rel=1e-4)
    assert coef(entry, "E", "se") == pytest.approx(1.54579, rel=1e-4)
    assert entry["random_effects"]["sd"]["E"] == pytest.approx(5.92214, rel=1e-3)
    t = res.table
    assert list(t.columns) == ["participant_id", "wave", "E", "P", "P_expected", "sr", "sr_z"]
    assert len(t) == 180
    # SR from the fixed effects only (not the subject-specific prediction)
    np.testing.assert_allclose(t["P_expected"], 251.405 + 10.4673 * t["E"], rtol=5e-5)
    np.testing.assert_allclose(t["sr"], t["P"] - t["P_expected"], atol=1e-9)


def test_multilevel_sr_z_invariant_to_scaling_P_and_E():
    df = simulated(n=150, waves=5, seed=6, missing=0.05)
    raw = compute_sr(df, {"level": "multilevel"}, "obs")
    scaled = df.assign(
        P=(df["P"] - df["P"].mean()) / df["P"].std(), E=(df["E"] - df["E"].mean()) / df["E"].std()
    )
    z = compute_sr(scaled, {"level": "multilevel"}, "obs")
    # Identical up to the optimiser's convergence tolerance on theta.
    np.testing.assert_allclose(z.table["sr_z"], raw.table["sr_z"], atol=1e-5)
    # and the slope rescales exactly: b_z = b * sd(E) / sd(P)
    b_raw = coef(raw.line["lines"][0], "E")
    b_z = coef(z.line["lines"][0], "E")
    assert b_z == pytest.approx(b_raw * df["E"].std() / df["P"].std(), rel=1e-5)


def test_multilevel_quadratic_and_auto():
    df = simulated(n=150, waves=5, seed=7)
    df["P"] = df["P"] + 0.2 * (df["E"] - 4) ** 2  # strong curvature
    res = compute_sr(df, {"level": "multilevel", "form": "auto"}, "obs")
    assert res.line["form_used"] == "quadratic"
    test = res.line["form_test"]
    lin, quad = res.line["fits"]["linear"], res.line["fits"]["quadratic"]
    assert test["statistic"] == pytest.approx(2 * (quad["loglik"] - lin["loglik"]), rel=1e-10)
    assert lin["criterion"] == "ML" and res.line["lines"][0]["criterion"] == "REML"
    assert coef(res.line["lines"][0], "E^2") == pytest.approx(0.2, abs=0.03)


# --------------------------------------------------------------------------------------
# Forms
# --------------------------------------------------------------------------------------


def test_quadratic_coefficients_on_raw_scale_match_polyfit():
    E = np.array([0.0, 1, 2, 3, 4, 5, 6, 7])
    P = np.array([1.0, 1.5, 3.2, 4.1, 7.9, 10.2, 15.8, 19.0])
    df = scores_frame([f"p{i}" for i in range(8)], [1] * 8, P, E)
    res = compute_sr(df, {"level": "wave", "form": "quadratic"}, "q")
    c2, c1, c0 = np.polyfit(E, P, 2)
    entry = res.line["lines"][0]
    assert [c["term"] for c in entry["coefficients"]] == ["Intercept", "E", "E^2"]
    np.testing.assert_allclose(
        [coef(entry, t) for t in ("Intercept", "E", "E^2")], [c0, c1, c2], rtol=1e-9
    )
    # centred parameterisation: same curve around E_center
    c = entry["E_center"]
    assert c == pytest.approx(E.mean())
    np.testing.assert_allclose(
        coef(entry, "Intercept", table="coefficients_centered"), c0 + c1 * c + c2 * c * c
    )
    np.testing.assert_allclose(res.table["P_expected"], np.polyval([c2, c1, c0], E), rtol=1e-9)
    # SEs agree with statsmodels on the raw design
    ols = sm.OLS(P, np.column_stack([np.ones(8), E, E**2])).fit()
    np.testing.assert_allclose([c_["se"] for c_ in entry["coefficients"]], ols.bse, rtol=1e-8)


def test_auto_form_lr_statistic_equals_statsmodels_compare_lr_test():
    rng = np.random.default_rng(8)
    E = rng.uniform(0, 10, 80)
    P = 2 + 0.5 * E + 0.08 * E**2 + rng.normal(0, 1.5, 80)
    df = scores_frame([f"p{i:02d}" for i in range(80)], np.ones(80), P, E)
    res = compute_sr(df, {"level": "wave", "form": "auto", "alpha": 0.05}, "auto")
    lin = sm.OLS(P, np.column_stack([np.ones(80), E])).fit()
    quad = sm.OLS(P, np.column_stack([np.ones(80), E, E**2])).fit()
    lr, p, df_diff = quad.compare_lr_test(lin)
    test = res.line["form_test"]
    assert test["method"] == "likelihood_ratio"
    assert test["statistic"] == pytest.approx(lr, rel=1e-9)
    assert test["p"] == pytest.approx(p, rel=1e-7)
    assert test["df"] == df_diff == 1
    assert res.line["form_used"] == ("quadratic" if p < 0.05 else "linear") == "quadratic"
    assert res.line["fits"]["linear"][0]["loglik_ml"] == pytest.approx(lin.llf, rel=1e-10)
    assert res.line["fits"]["quadratic"][0]["loglik_ml"] == pytest.approx(quad.llf, rel=1e-10)
    # a linear truth is kept linear at this alpha (seeded data: p well above 0.05)
    P2 = 2 + 0.5 * E + rng.normal(0, 1.5, 80)
    res2 = compute_sr(df.assign(P=P2), {"level": "wave", "form": "auto"}, "auto")
    p2 = (
        sm.OLS(P2, np.column_stack([np.ones(80), E, E**2]))
        .fit()
        .compare_lr_test(sm.OLS(P2, np.column_stack([np.ones(80), E])).fit())[1]
    )
    assert res2.line["form_test"]["p"] == pytest.approx(p2, rel=1e-7)
    assert res2.line["form_used"] == ("quadratic" if p2 < 0.05 else "linear")


def test_auto_form_pools_lr_over_lines():
    df = simulated(n=100, waves=3, seed=9)
    res = compute_sr(df, {"level": "wave", "form": "auto"}, "auto")
    per_line = []
    for w in (1, 2, 3):
        d = df[df["wave"] == w]
        lin = sm.OLS(d["P"], sm.add_constant(d[["E"]])).fit()
        quad = sm.OLS(d["P"], sm.add_constant(d[["E"]].assign(E2=d["E"] ** 2))).fit()
        per_line.append(quad.compare_lr_test(lin)[0])
    np.testing.assert_allclose(res.line["form_test"]["per_line"], per_line, rtol=1e-8)
    assert res.line["form_test"]["statistic"] == pytest.approx(sum(per_line), rel=1e-9)
    assert res.line["form_test"]["df"] == 3


# --------------------------------------------------------------------------------------
# Outliers
# --------------------------------------------------------------------------------------

OUT_E = np.array([1.0, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 30])
OUT_P = np.array([2.0, 3, 4, 3, 5, 5, 6, 6, 7, 7, 8, 9, 3])


def outlier_frame():
    return scores_frame([f"p{i:02d}" for i in range(len(OUT_E))], np.ones(len(OUT_E)), OUT_P, OUT_E)


def test_winsorize_refits_on_clipped_data_and_scores_unaltered_values():
    k = 1.5
    res = compute_sr(outlier_frame(), {"level": "wave", "outliers": "winsorize", "k": k}, "win")
    lo_E, hi_E = OUT_E.mean() - k * OUT_E.std(ddof=1), OUT_E.mean() + k * OUT_E.std(ddof=1)
    lo_P, hi_P = OUT_P.mean() - k * OUT_P.std(ddof=1), OUT_P.mean() + k * OUT_P.std(ddof=1)
    bounds = res.line["outliers"]["bounds"]
    np.testing.assert_allclose(bounds["E"][0], [lo_E, hi_E], rtol=1e-12)
    np.testing.assert_allclose(bounds["P"][0], [lo_P, hi_P], rtol=1e-12)
    E_w, P_w = np.clip(OUT_E, lo_E, hi_E), np.clip(OUT_P, lo_P, hi_P)
    assert res.line["outliers"]["n_winsorized"]["E"] == [int((E_w != OUT_E).sum())] == [1]
    a_w, b_w, _, _ = hand_ols(E_w, P_w)
    _, b_raw, _, _ = hand_ols(OUT_E, OUT_P)
    entry = res.line["lines"][0]
    assert coef(entry, "E") == pytest.approx(b_w, rel=1e-12)
    assert (
        abs(coef(entry, "E") - b_raw) > 0.05
    )  # not silently the unwinsorized slope (-0.024 vs 0.059)
    # applied to everyone's unaltered values
    np.testing.assert_array_equal(res.table["E"], OUT_E)
    np.testing.assert_array_equal(res.table["P"], OUT_P)
    np.testing.assert_allclose(res.table["sr"], OUT_P - a_w - b_w * OUT_E, atol=1e-12)
    assert res.line["n"]["used"] == 13 and res.line["n"]["excluded"]["outliers"] == 0


def test_exclude_drops_units_with_large_z_from_fit_only():
    k = 2.0
    res = compute_sr(outlier_frame(), {"level": "wave", "outliers": "exclude", "k": k}, "ex")
    zE = np.abs(OUT_E - OUT_E.mean()) / OUT_E.std(ddof=1)
    zP = np.abs(OUT_P - OUT_P.mean()) / OUT_P.std(ddof=1)
    keep = (zE < k) & (zP < k)
    assert (~keep).sum() == 1
    a, b, _, _ = hand_ols(OUT_E[keep], OUT_P[keep])
    assert coef(res.line["lines"][0], "E") == pytest.approx(b, rel=1e-12)
    assert res.line["n"]["excluded"]["outliers"] == 1 and res.line["n"]["used"] == 12
    assert len(res.table) == 13  # the excluded unit is still scored
    np.testing.assert_allclose(res.table["sr"], OUT_P - a - b * OUT_E, atol=1e-12)


def test_mahalanobis_uses_joint_distance_and_chi2_p():
    rng = np.random.default_rng(10)
    E = rng.normal(5, 1, 200)
    P = 1 + E + rng.normal(0, 0.5, 200)
    E[:3], P[:3] = [8.0, 2.0, 5.0], [1.0, 8.0, 9.5]  # off the joint cloud, not extreme marginally
    df = scores_frame([f"p{i:03d}" for i in range(200)], np.ones(200), P, E)
    res = compute_sr(df, {"level": "wave", "outliers": "mahalanobis"}, "mah")
    X = np.column_stack([P, E])
    dev = X - X.mean(axis=0)
    d2 = np.einsum("na,ab,nb->n", dev, np.linalg.inv(np.cov(X.T, ddof=1)), dev)
    keep = stats.chi2.sf(d2, 2) > 0.001
    assert (~keep[:3]).all() and (~keep).sum() == res.line["n"]["excluded"]["outliers"]
    _, b, _, _ = hand_ols(E[keep], P[keep])
    assert coef(res.line["lines"][0], "E") == pytest.approx(b, rel=1e-12)
    assert res.line["outliers"]["d2_threshold"] == pytest.approx(stats.chi2.isf(0.001, 2))


def test_huber_matches_statsmodels_rlm_and_resists_contamination():
    rng = np.random.default_rng(11)
    E = rng.uniform(0, 10, 150)
    P = 1 + 0.8 * E + rng.normal(0, 1, 150)
    P[:10] += 25  # gross outliers
    df = scores_frame([f"p{i:03d}" for i in range(150)], np.ones(150), P, E)
    res = compute_sr(df, {"level": "wave", "outliers": "huber"}, "hub")
    rlm = sm.RLM(P, np.column_stack([np.ones(150), E]), M=sm.robust.norms.HuberT()).fit()
    entry = res.line["lines"][0]
    np.testing.assert_allclose([coef(entry, "Intercept"), coef(entry, "E")], rlm.params, rtol=1e-8)
    np.testing.assert_allclose(
        [coef(entry, "Intercept", "se"), coef(entry, "E", "se")], rlm.bse, rtol=1e-6
    )
    assert abs(coef(entry, "E") - 0.8) < abs(hand_ols(E, P)[1] - 0.8)
    np.testing.assert_allclose(res.table["sr"], P - rlm.params[0] - rlm.params[1] * E, atol=1e-8)
    assert entry["n_downweighted"] >= 10


# --------------------------------------------------------------------------------------
# Reference
# --------------------------------------------------------------------------------------


def test_reference_control_arm_line_applied_to_everyone():
    df = simulated(n=80, waves=2, seed=12)
    df.loc[df["arm"] == "treatment", "P"] -= 2.0  # treatment: fewer problems than the norm
    res = compute_sr(
        df, {"level": "wave", "reference": {"column": "arm", "value": "control"}}, "ctl"
    )
    for g, w in enumerate((1, 2)):
        ctl = df[(df["wave"] == w) & (df["arm"] == "control")]
        a, b, _, _ = hand_ols(ctl["E"], ctl["P"])
        assert coef(res.line["lines"][g], "E") == pytest.approx(b, rel=1e-12)
        everyone = df[df["wave"] == w].sort_values("participant_id")
        got = res.table[res.table["wave"] == w]
        np.testing.assert_allclose(got["sr"], everyone["P"] - a - b * everyone["E"], atol=1e-12)
    assert res.line["n"]["used"] == int((df["arm"] == "control").sum())
    merged = res.table.merge(df[["participant_id", "wave", "arm"]], on=["participant_id", "wave"])
    # true shift -2; sampling noise of 40 people's mean residual is about 0.4
    assert merged.loc[merged["arm"] == "treatment", "sr"].mean() < -1.0


def test_reference_period_selects_participants():
    df = simulated(n=80, waves=4, seed=13)
    res = compute_sr(
        df, {"level": "period", "reference": {"column": "arm", "value": "control"}}, "ctl"
    )
    means = df.groupby("participant_id").agg(E=("E", "mean"), P=("P", "mean"), arm=("arm", "first"))
    ctl = means[means["arm"] == "control"]
    a, b, _, _ = hand_ols(ctl["E"], ctl["P"])
    assert coef(res.line["lines"][0], "E") == pytest.approx(b, rel=1e-12)
    np.testing.assert_allclose(res.table["sr"], means["P"] - a - b * means["E"], atol=1e-12)


def test_reference_waves_pools_one_line_for_level_wave():
    df = simulated(n=60, waves=4, seed=14)
    res = compute_sr(df, {"level": "wave", "reference": {"waves": [1, 2]}}, "base")
    base = df[df["wave"].isin([1, 2])]
    a, b, _, _ = hand_ols(base["E"], base["P"])
    assert res.line["n_lines"] == 1
    assert coef(res.line["lines"][0], "E") == pytest.approx(b, rel=1e-12)
    assert len(res.table) == 240
    t = res.table.merge(df, on=["participant_id", "wave"], suffixes=("", "_in"))
    np.testing.assert_allclose(t["sr"], t["P_in"] - a - b * t["E_in"], atol=1e-12)


# --------------------------------------------------------------------------------------
# Failures and missing data
# --------------------------------------------------------------------------------------


def test_constant_E_fails_with_reason_naming_the_spec():
    df = scores_frame(["a", "b", "c", "d"], [1] * 4, [1.0, 2, 3, 4], [2.0] * 4)
    res = safe_compute_sr(df, {"level": "wave"}, "flat_exposure")
    assert res.status == "failed"
    assert "flat_exposure" in res.reason and "constant" in res.reason and "wave 1" in res.reason
    assert res.table.empty
    assert list(res.table.columns) == [
        "participant_id",
        "wave",
        "E",
        "P",
        "P_expected",
        "sr",
        "sr_z",
    ]
    assert res.line["status"] == "failed" and res.line["reason"] == res.reason
    json.dumps(res.line, allow_nan=False)


@pytest.mark.parametrize("level", ["wave", "period", "multilevel", "sliding", "change"])
def test_no_exposure_fails_every_level_and_other_specs_still_run(level):
    df = simulated(n=30, waves=4, seed=15)
    results = compute_all_sr(df.assign(E=np.nan), {"bad": {"level": level}})
    assert results["bad"].status == "failed" and "'bad'" in results["bad"].reason
    assert "no values" in results["bad"].reason
    both = compute_all_sr(
        df,
        {
            "tiny": {"level": level, "reference": {"column": "participant_id", "value": "id0001"}},
            "fine": {"level": level},
        },
    )
    assert both["tiny"].status == "failed" and "tiny" in both["tiny"].reason
    assert both["fine"].status == "ok" and len(both["fine"].table) > 0


def test_fewer_than_three_units_in_a_wave_fails():
    df = simulated(n=20, waves=3, seed=16)
    df.loc[(df["wave"] == 3) & (df.index % 20 > 1), "P"] = np.nan  # wave 3: 2 participants with P
    res = safe_compute_sr(df, {"level": "wave"}, "w")
    assert res.status == "failed" and "wave 3" in res.reason and "fewer than 3" in res.reason


def test_missing_P_gets_no_sr_not_a_score_from_zero():
    df = simulated(n=50, waves=3, seed=17)
    missing = df.index[[3, 10, 77]]
    df.loc[missing, "P"] = np.nan  # questionnaire with every item missing
    res = compute_sr(df, {"level": "wave"}, "w")
    keys = set(zip(res.table["participant_id"], res.table["wave"], strict=True))
    for i in missing:
        assert (df.at[i, "participant_id"], df.at[i, "wave"]) not in keys
    assert len(res.table) == 147 and res.table["sr"].notna().all()
    assert res.line["n"]["excluded"]["missing"] == 3
    # the wrong treatment (0 instead of missing) would change the line
    zero = compute_sr(df.fillna({"P": 0.0}), {"level": "wave"}, "w")
    good = df.dropna(subset=["P"])
    _, b, _, _ = hand_ols(good.loc[good["wave"] == 1, "E"], good.loc[good["wave"] == 1, "P"])
    assert coef(res.line["lines"][0], "E") == pytest.approx(b, rel=1e-12)
    assert coef(zero.line["lines"][0], "E") != pytest.approx(b, rel=1e-3)
    # period: a person's mean skips the missing wave (not averaged with 0)
    per = compute_sr(df, {"level": "period"}, "p").table.set_index("participant_id")
    pid = df.at[missing[0], "participant_id"]
    assert per.at[pid, "P"] == pytest.approx(
        df.loc[df["participant_id"] == pid, "P"].dropna().mean()
    )


def test_invalid_spec_raises_config_error():
    with pytest.raises(ConfigError, match=r"sr\.x\.level: 'daily' is not allowed"):
        sr_spec("x", {"level": "daily"})
    with pytest.raises(ConfigError, match="unknown key 'outlier'"):
        sr_spec("x", {"level": "wave", "outlier": "huber"})
    with pytest.raises(ConfigError, match=r"sr\.x\.reference"):
        sr_spec("x", {"level": "wave", "reference": {"arm": "control"}})
    with pytest.raises(ConfigError, match=r"sr\.x\.min_in_window: 3 cannot exceed window \(2\)"):
        sr_spec("x", {"level": "sliding", "window": 2, "min_in_window": 3})
    # the entry points check a plain mapping the same way, before touching the data
    with pytest.raises(ConfigError, match="unknown key 'outlier'"):
        compute_sr(pd.DataFrame(), {"level": "wave", "outlier": "huber"}, "x")
    with pytest.raises(ConfigError, match="level"):
        safe_compute_sr(pd.DataFrame(), {"level": "daily"}, "x")


def _one_cohort_config(sr_block: dict) -> dict:
    """A minimal config (one cohort, one problems instrument) with the given sr block."""
    problems = {"role": "problems", "items": {"prefix": "P_"}, "range": [0, 3]}
    cohort = {
        "input": "x.csv",
        "columns": {"participant": "id", "wave": "wave"},
        "instruments": {"p": problems},
    }
    return {"cohorts": {"c": cohort}, "sr": sr_block}


def test_spec_defaults_come_from_the_schema():
    schema = config_schema()["$defs"]["sr_spec"]["properties"]
    spec = sr_spec("x", {"level": "period"})
    for key in (
        "form",
        "alpha",
        "outliers",
        "k",
        "waves",
        "min_waves",
        "window",
        "min_in_window",
        "adjust_previous",
        "outcome",
        "exposure",
        "standardize",
    ):
        assert getattr(spec, key) == schema[key]["default"], key
    assert spec.reference == schema["reference"]["default"] == "all"
    # waves are sorted and unique; the reference keeps the config's form
    spec = sr_spec("x", {"level": "wave", "waves": [3, 1, 3], "reference": {"waves": [2, 1, 2]}})
    assert spec.waves == (1, 3) and spec.reference == {"waves": [1, 2]}
    # a spec typed in a notebook may hold numpy numbers, arrays or tuples
    spec = sr_spec(
        "x",
        {
            "level": "period",
            "waves": np.array([4, 2]),
            "min_waves": np.int64(2),
            "k": np.float64(2.5),
            "reference": {"waves": (2,)},
        },
    )
    assert (spec.waves, spec.min_waves, spec.k, spec.reference) == ((2, 4), 2, 2.5, {"waves": [2]})
    assert type(spec.min_waves) is int and type(spec.k) is float
    spec = sr_spec("x", {"level": "wave", "reference": {"column": "arm", "value": "control"}})
    assert spec.reference == {"column": "arm", "value": "control"} and spec.reference_waves is None
    # the spec of a loaded config (defaults already filled) is the same object value
    raw = _one_cohort_config({"person": {"level": "period", "k": 2.5}})
    from_config = sr_spec("person", load_config(raw).cohort("c").sr["person"])
    assert from_config == sr_spec("person", {"level": "period", "k": 2.5})
    assert isinstance(from_config, SRSpec)


def _by_hand_per_line(scores: pd.DataFrame, level: str, window: int = 3) -> pd.DataFrame:
    """SR and sr_z of every wave (or window of ``window`` waves) computed on its own.

    Each line's units are built with pandas (window means over the waves with P and E),
    fitted by ``numpy.linalg.lstsq`` and z-scored with ``std(ddof=1)``: nothing is shared
    with srflow's vectorised code.
    """
    ok = scores.dropna(subset=["P", "E"])
    if level == "wave":
        groups = [(int(w), rows) for w, rows in ok.groupby("wave")]
    else:
        starts = range(int(scores["wave"].min()), int(scores["wave"].max()) - window + 2)
        groups = [
            (
                s,
                ok[ok["wave"].between(s, s + window - 1)]
                .groupby("participant_id")[["P", "E"]]
                .mean()
                .reset_index(),
            )
            for s in starts
        ]
    parts = []
    for label, units in groups:
        X = np.column_stack([np.ones(len(units)), units["E"]])
        beta = np.linalg.lstsq(X, units["P"].to_numpy(), rcond=None)[0]
        sr = units["P"].to_numpy() - X @ beta
        key = "wave" if level == "wave" else "window"
        parts.append(
            pd.DataFrame(
                {
                    "participant_id": units["participant_id"].to_numpy(),
                    key: label,
                    "sr": sr,
                    "sr_z": zscore(sr),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("level", ["wave", "sliding"])
def test_line_standardisation_equals_a_per_line_computation(level):
    """standardize: line (the default) = each wave / window z-scored on its own, to 1e-10.

    Seed 3, 400 people x 6 waves with 10 % of P missing; the pooled z differs from it by
    more than 0.01, so the check is not vacuous.
    """
    df = simulated(n=400, waves=6, seed=3, missing=0.1)
    key = "wave" if level == "wave" else "window"
    res = compute_sr(df, {"level": level, "window": 3}, "x")
    hand = _by_hand_per_line(df, level)
    m = res.table.merge(hand, on=["participant_id", key], suffixes=("", "_hand"), validate="1:1")
    assert len(m) == len(res.table) == len(hand)
    np.testing.assert_allclose(m["sr"], m["sr_hand"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(m["sr_z"], m["sr_z_hand"], rtol=0, atol=1e-10)
    assert res.line["standardize"] == "line"
    pooled = compute_sr(df, {"level": level, "window": 3, "standardize": "pooled"}, "x")
    assert np.abs(pooled.table["sr_z"] - res.table["sr_z"]).max() > 0.01
    # pooled is the old formula over all units, bit for bit
    sr = pooled.table["sr"].to_numpy()
    assert np.array_equal(pooled.table["sr_z"].to_numpy(), (sr - sr.mean()) / sr.std(ddof=1))


@pytest.mark.parametrize(
    "spec",
    [
        {"level": "period"},
        {"level": "multilevel"},
        {"level": "change"},
        {"level": "wave", "reference": {"waves": [1, 2]}},
    ],
)
def test_single_line_levels_standardise_identically_both_ways(spec, tmp_path):
    """One normative line: line and pooled write byte-identical tables."""
    df = simulated(n=120, waves=4, seed=5)
    written = []
    for how in ("line", "pooled"):
        res = compute_sr(df, {**spec, "standardize": how}, "x")
        res.write(tmp_path / f"{how}.csv", tmp_path / f"{how}.json")
        written.append((tmp_path / f"{how}.csv").read_bytes())
        assert res.line["standardize"] == how
    assert written[0] == written[1]


def test_standardize_rejects_unknown_values():
    with pytest.raises(ConfigError, match="sr.x.standardize"):
        sr_spec("x", {"level": "wave", "standardize": "wave"})


def test_load_config_rejects_a_window_smaller_than_min_in_window():
    raw = _one_cohort_config({"win": {"level": "sliding", "window": 2, "min_in_window": 3}})
    with pytest.raises(ConfigError, match=r"sr\.win\.min_in_window: 3 cannot exceed window \(2\)"):
        load_config(raw)


def test_spec_object_and_mapping_give_the_same_result():
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {"participant_id": [f"p{i}" for i in range(40)], "wave": 1, "E": rng.normal(size=40)}
    )
    df["P"] = 1 + 0.5 * df["E"] + rng.normal(size=40)
    spec = sr_spec("person", {"level": "period", "outliers": "winsorize"})
    by_spec, by_mapping = (
        compute_sr(df, spec),
        compute_sr(df, {"level": "period", "outliers": "winsorize"}, "person"),
    )
    pd.testing.assert_frame_equal(by_spec.table, by_mapping.table)
    assert by_spec.line == by_mapping.line and by_spec.name == "person"
    assert compute_sr(df, spec, "renamed").line["spec"] == "renamed"


# --------------------------------------------------------------------------------------
# Diagnostics, output, determinism
# --------------------------------------------------------------------------------------


def test_cooks_distance_and_qq_match_statsmodels():
    df = outlier_frame()
    res = compute_sr(df, {"level": "wave"}, "diag")
    ols = sm.OLS(OUT_P, np.column_stack([np.ones(13), OUT_E])).fit()
    cooks = ols.get_influence().cooks_distance[0]
    entry = res.line["lines"][0]
    assert entry["cooks_distance"]["max"] == pytest.approx(cooks.max(), rel=1e-9)
    assert entry["cooks_distance"]["n_above_threshold"] == int((cooks > 4 / 13).sum())
    qq = entry["residual_qq"]
    assert len(qq["theoretical"]) == len(qq["sample"]) == 21
    probs = (np.arange(1, 22) - 0.5) / 21
    np.testing.assert_allclose(qq["theoretical"], stats.norm.ppf(probs))
    np.testing.assert_allclose(
        qq["sample"], np.quantile(ols.resid / np.sqrt(ols.scale), probs), rtol=1e-9
    )


def test_outputs_are_json_ready_and_byte_identical(tmp_path):
    df = simulated(n=60, waves=4, seed=18, missing=0.1)
    spec = {"level": "sliding", "form": "auto", "outliers": "winsorize"}
    a = compute_sr(df, spec, "s")
    b = compute_sr(df.sample(frac=1.0, random_state=3), spec, "s")  # row order must not matter
    a.write(tmp_path / "a.csv", tmp_path / "a.line.json")
    b.write(tmp_path / "b.csv", tmp_path / "b.line.json")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.line.json").read_bytes() == (tmp_path / "b.line.json").read_bytes()
    line = json.loads((tmp_path / "a.line.json").read_text())
    assert line["spec"] == "s" and line["sign_convention"] == SIGN_CONVENTION
    assert set(line["fits"]) == {"linear", "quadratic"}
    assert a.table["participant_id"].dtype == "str" and a.table["window"].dtype == np.int64


# --------------------------------------------------------------------------------------
# Recovery of simulated person-level resilience
# --------------------------------------------------------------------------------------


def test_period_sr_recovers_person_level_resilience():
    """Period SR ranks people by their true deviation from the normative mean-level line.

    Simulation: P_it = a + u_i + b_i * E_it + e_it over 8 waves, with u_i the person's
    resilience offset and b_i their reactivity (independent of the exposure level). A
    person's expected mean P on the population line is a + mean(b) * Ebar_i, so their true
    period SR is t_i = u_i + (b_i - mean(b)) * Ebar_i. The oracle knows the population line
    and only suffers the measurement noise of the wave means (ebar_i); it bounds what any
    estimate of the line can achieve.
    """
    rng = np.random.default_rng(19)
    n, waves, a, b_mean = 2000, 8, 3.0, 0.5
    person = np.repeat(np.arange(n), waves)
    u = rng.normal(0, 1.0, n)
    b = b_mean + rng.normal(0, 0.15, n)
    level = rng.gamma(3, 1.5, n)
    E = np.maximum(level[person] + rng.normal(0, 1.5, n * waves), 0)
    P = a + u[person] + b[person] * E + rng.normal(0, 2.0, n * waves)
    df = scores_frame([f"s{i:05d}" for i in person], np.tile(np.arange(1, waves + 1), n), P, E)
    res = compute_sr(df, {"level": "period"}, "p").table
    Ebar = np.bincount(person, E) / waves
    Pbar = np.bincount(person, P) / waves
    truth = u + (b - b_mean) * Ebar
    oracle = Pbar - (a + b_mean * Ebar)
    rho = stats.spearmanr(res["sr"], truth)[0]
    rho_oracle = stats.spearmanr(oracle, truth)[0]
    print(f"Spearman(period SR, true person offset) = {rho:.3f}; oracle = {rho_oracle:.3f}")
    assert rho >= rho_oracle - 0.05
    assert rho > 0.7
