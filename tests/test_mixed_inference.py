"""Mixed-model inference against lmerTest, pbkrtest, performance and lme4.

References: ``tests/reference/mixed_inference.R`` (outputs in tests/data/mixed_inference/):
sleepstudy (REML, ML, and with a 3-level arm crossed with Days) and simulated cohorts as real
ones look (15-40 participants, 3-8 unbalanced waves, uncentred E 0-100, a trait -4..4
moderating E, age 18-90, a 3-5 level site, random intercept and E slope).

Tolerances (issue 11): Satterthwaite and Kenward-Roger df within 1%; p within 1e-4 absolute
plus 1% relative; Kenward-Roger SEs within 0.1%; Type III F within 0.1%; R2 within 1e-3;
profile intervals within 0.2% (correlations: 0.002 absolute, see the profile test).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srflow.errors import ConfigError
from srflow.mixed import MixedModelSpec, fit_mixed_model
from srflow.mixed.engine import fit_lmm, group_statistics, theta_layout
from srflow.mixed.kenward_roger import KenwardRoger
from srflow.mixed.profile import _Profiler
from srflow.mixed.recipe import DesignRecipe

DATA = Path(__file__).parent / "data"
REF = DATA / "mixed_inference"
CASES = pd.read_csv(REF / "cases.csv", keep_default_na=False).set_index("case")
FIXED = pd.read_csv(REF / "fixed.csv")
ANOVA = pd.read_csv(REF / "anova.csv")
R2 = pd.read_csv(REF / "r2.csv").set_index("case")
PROFILE = pd.read_csv(REF / "profile.csv")
FIT = pd.read_csv(REF / "fit.csv").set_index("case")
DDF = {"satterthwaite": "Satterthwaite", "kenward_roger": "Kenward-Roger"}


def _data(name: str) -> pd.DataFrame:
    if name.startswith("sleep"):
        sleep = pd.read_csv(DATA / "sleepstudy.csv", dtype={"Subject": str})
        arms = {0: "control", 1: "b_arm", 2: "a_arm"}
        return sleep.assign(arm=sleep["Subject"].astype(int).mod(3).map(arms))
    return pd.read_csv(REF / f"{name}.csv", dtype={"participant_id": str})


def _spec(case: str, df: str = "satterthwaite") -> MixedModelSpec:
    row = CASES.loc[case]
    contrasts = {}
    if row["reference"]:
        column, level = row["reference"].split("=")
        contrasts = {column: {"reference": level}}
    return MixedModelSpec(
        row["outcome"],
        row["fixed"].split(";"),
        row["random"].split(";") if row["random"] else [],
        row["method"],
        row["group"],
        name=case,
        df=df,
        contrasts=contrasts,
    )


@cache
def _fit(case: str, df: str = "satterthwaite", profile: bool = False):
    return fit_mixed_model(_data(CASES.loc[case, "data"]), _spec(case, df), profile=profile)


def _r_name(name: str) -> str:
    """lme4's coefficient names in srflow's spelling (site[T.B] for siteB)."""
    name = name.replace("(Intercept)", "Intercept")
    return re.sub(r"\b(site|arm)([A-Za-z_]+)", r"\1[T.\2]", name)


def _reference(table: pd.DataFrame, case: str, ddf: str) -> pd.DataFrame:
    ref = table[(table["case"] == case) & (table["ddf"] == ddf)].copy()
    ref["term"] = ref["term"].map(_r_name)
    return ref.set_index("term")


def _close_p(mine, theirs):
    mine, theirs = np.asarray(mine, float), np.asarray(theirs, float)
    assert np.all(np.abs(mine - theirs) <= 1e-4 + 0.01 * np.abs(theirs)), (mine, theirs)


CASE_DF = [
    (case, df)
    for case in CASES.index
    for df in DDF
    if df == "satterthwaite" or CASES.loc[case, "method"] == "reml"
]


@pytest.mark.parametrize(("case", "df"), CASE_DF)
def test_fixed_effects_t_tests_match_lmertest(case, df):
    fixed = _fit(case, df).fixed.set_index("term")
    ref = _reference(FIXED, case, DDF[df]).loc[fixed.index]
    np.testing.assert_allclose(fixed["estimate"], ref["estimate"], rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(
        fixed["se"], ref["se"], rtol=1e-3
    )  # KR-adjusted SEs for kenward_roger
    np.testing.assert_allclose(fixed["df"], ref["df"], rtol=0.01)
    np.testing.assert_allclose(fixed["statistic"], ref["t"], rtol=1e-3)
    _close_p(fixed["p"], ref["p"])


@pytest.mark.parametrize(("case", "df"), CASE_DF)
def test_type3_anova_matches_lmertest(case, df):
    anova = _fit(case, df).anova.set_index("term")
    ref = ANOVA[(ANOVA["case"] == case) & (ANOVA["ddf"] == DDF[df])].set_index("term")
    assert sorted(anova.index) == sorted(ref.index)
    ref = ref.loc[anova.index]
    np.testing.assert_array_equal(anova["num_df"], ref["num_df"])
    np.testing.assert_allclose(anova["F"], ref["F"], rtol=1e-3)
    np.testing.assert_allclose(anova["den_df"], ref["den_df"], rtol=0.01)
    _close_p(anova["p"], ref["p"])


def test_a_factor_is_one_f_test_on_its_levels_minus_one():
    anova = _fit("sim3_inter").anova.set_index("term")
    assert anova.loc["site", "num_df"] == 4 and anova.loc["E:site", "num_df"] == 4  # 5 sites
    assert anova.loc["E", "num_df"] == 1


def test_configured_reference_level_changes_coding_not_fit():
    by_ref = _fit("sim2_ref").fixed.set_index("term")
    assert [t for t in by_ref.index if t.startswith("site")] == [
        "site[T.A]",
        "site[T.B]",
        "site[T.D]",
    ]
    assert set(by_ref["reference"]) == {"site=C", ""}
    default = fit_mixed_model(
        _data("sim2"), MixedModelSpec("P", ["E", "age", "site"], ["E"]), profile=False
    )
    assert default.fixed["term"].tolist()[-3:] == ["site[T.B]", "site[T.C]", "site[T.D]"]
    assert default.fit["loglik"] == pytest.approx(_fit("sim2_ref").fit["loglik"], abs=1e-6)
    # the site effect B - C is the same either way
    b_minus_c = default.fixed.set_index("term")["estimate"]
    assert b_minus_c["site[T.B]"] - b_minus_c["site[T.C]"] == pytest.approx(
        by_ref.loc["site[T.B]", "estimate"], abs=1e-5
    )


def test_kenward_roger_equals_satterthwaite_on_balanced_sleepstudy():
    # pbkrtest and lmerTest both give 17 df for both coefficients here (balanced design)
    kr = _fit("sleep_reml", "kenward_roger").fixed
    np.testing.assert_allclose(kr["df"], 17.0, rtol=1e-6)


@pytest.mark.parametrize("case", list(CASES.index))
def test_nakagawa_r2_matches_performance(case):
    fit = _fit(case).fit
    ref = R2.loc[case]
    assert fit["r2_marginal"] == pytest.approx(ref["r2_marginal"], abs=1e-3)
    if np.isfinite(ref["r2_conditional"]):  # performance gives NA for singular fits
        assert fit["r2_conditional"] == pytest.approx(ref["r2_conditional"], abs=1e-3)


def _flat_ci(fit: dict, z_names: list[str]) -> np.ndarray:
    """The fit's intervals in lme4's parameter order (theta order, then sigma)."""
    ci = fit["variance_components"]["ci"]
    rows, cols = theta_layout(len(z_names))
    out = [
        ci["sd"][z_names[r]] if r == c else ci["corr"][f"{z_names[c]}:{z_names[r]}"]
        for r, c in zip(rows, cols, strict=True)
    ]
    return np.array([*out, ci["residual_sd"]], dtype=float)


#: lme4 bounds that are not where the profile crosses the cutoff (lme4 interpolates a spline through
#: a coarse profile, and warns on these fits). srflow's exact profile at these values rises by less
#: than 3.84 - 0.1: the profile is an inner minimum, so the true one is lower still and lme4's bound
#: lies inside the interval - or, once, by more than 3.84 + 0.5 (checked from several starts).
#: They are tested as such instead of being compared. (case, parameter index, 0 = low / 1 = high)
LME4_SPLINE_FAILURES = {
    ("sim1_slope", 1, 0),
    ("sim1_slope", 2, 0),
    ("sim1_slope", 3, 0),
    ("sim1_slope", 3, 1),
    ("sim3_inter", 0, 1),
    ("sim3_inter", 1, 1),
}


@pytest.mark.parametrize("case", list(CASES.index))
def test_profile_intervals_match_lme4(case):
    result = _fit(case, profile=True)
    mine = _flat_ci(result.fit, result.lmm.z_names)
    ref = PROFILE[PROFILE["case"] == case][["low", "high"]].to_numpy()
    kinds = [
        "corr" if r != c else "sd"
        for r, c in zip(*theta_layout(len(result.lmm.z_names)), strict=True)
    ]
    kinds.append("sd")
    for index, kind in enumerate(kinds):
        for side in (0, 1):
            if (case, index, side) in LME4_SPLINE_FAILURES:
                continue
            if kind == "corr":
                assert mine[index, side] == pytest.approx(ref[index, side], abs=2e-3), (index, side)
            else:
                assert mine[index, side] == pytest.approx(ref[index, side], rel=2e-3, abs=1e-6), (
                    index,
                    side,
                )


def _ml_profiler(case: str) -> _Profiler:
    spec = _spec(case)
    data = _data(CASES.loc[case, "data"])
    recipe = DesignRecipe.from_data(spec, data)
    X, x_names, Z, z_names = recipe.matrices(data)
    y = data[spec.outcome].to_numpy(float)
    groups = data[spec.group].to_numpy()
    lmm = fit_lmm(y, X, Z, groups, reml=False, x_names=x_names, z_names=z_names)
    return _Profiler(lmm, group_statistics(y, X, Z, groups))


def test_lme4_bounds_left_out_are_off_its_own_profile():
    """At each excluded lme4 bound the exact profile is clearly off the chi-square(1) cutoff 3.84."""
    for case in sorted({c for c, _, _ in LME4_SPLINE_FAILURES}):
        profiler = _ml_profiler(case)
        ref = PROFILE[PROFILE["case"] == case][["low", "high"]].to_numpy()
        for c, index, side in sorted(LME4_SPLINE_FAILURES):
            if c != case:
                continue
            best = min(
                profiler.profile(index, ref[index, side], start)[0] for start in _starts(profiler)
            )
            rise = best - profiler.minimum
            assert rise < 3.8415 - 0.1 or rise > 3.8415 + 0.5, (case, index, side, rise)


def _starts(profiler: _Profiler) -> list[np.ndarray]:
    starts = [profiler.estimate.copy()]
    for factor in (0.5, 2.0):
        start = profiler.estimate.copy()
        start[:-1] = np.where(
            np.array(profiler.layout.kinds[:-1]) == "sd", start[:-1] * factor, start[:-1]
        )
        starts.append(start)
    return starts


def test_ml_loglik_matches_lme4_where_intervals_are_compared():
    # the profile needs the true ML optimum: it is re-minimised before profiling
    for case in ("sleep_reml", "sim2_factor", "sim3_inter"):
        assert _ml_profiler(case).minimum == pytest.approx(
            -2 * FIT.loc[case, "ml_loglik"], abs=1e-4
        )


def test_outputs_are_deterministic():
    first = fit_mixed_model(_data("sim1"), _spec("sim1_slope"), profile=True)
    second = fit_mixed_model(_data("sim1"), _spec("sim1_slope"), profile=True)
    pd.testing.assert_frame_equal(first.fixed, second.fixed)
    pd.testing.assert_frame_equal(first.anova, second.anova)
    assert first.fit == second.fit


# ----------------------------------------------------------------------------------------
# Bad input: a clear message naming the model and the key
# ----------------------------------------------------------------------------------------


def test_unknown_reference_level_fails_the_model_with_the_key():
    spec = {
        "outcome": "P",
        "fixed": ["E", "site"],
        "random": ["E"],
        "contrasts": {"site": {"reference": "Z"}},
    }
    result = fit_mixed_model(_data("sim2"), MixedModelSpec.from_config("by_site", spec))
    assert result.status == "failed"
    assert result.reason == (
        "mixed_models.by_site.contrasts.site.reference: level 'Z' does not occur in column "
        "'site' (levels: A, B, C, D)."
    )
    assert result.fit["status"] == "failed" and result.anova.empty


def test_contrast_on_a_numeric_column_fails_the_model():
    spec = MixedModelSpec("P", ["E", "age"], ["E"], name="m", contrasts={"age": {"reference": 30}})
    result = fit_mixed_model(_data("sim1"), spec)
    assert (
        result.status == "failed"
        and "mixed_models.m.contrasts.age: column 'age' is numeric" in result.reason
    )


def test_one_level_factor_fails_the_model_naming_the_key():
    data = _data("sim1").assign(site="A")
    result = fit_mixed_model(data, MixedModelSpec("P", ["E", "site"], ["E"], name="one"))
    assert result.status == "failed"
    assert result.reason.startswith(
        "mixed_models.one.fixed: term 'site' uses the categorical column 'site', "
        "which has a single level ('A')"
    )


def test_spec_errors_name_the_key():
    with pytest.raises(
        ConfigError, match=r"mixed_models\.m\.df: kenward_roger is defined for REML fits only"
    ):
        MixedModelSpec("P", ["E"], method="ml", df="kenward_roger", name="m")
    with pytest.raises(ConfigError, match=r"mixed_models\.m\.df: 'exact' is not one of"):
        MixedModelSpec("P", ["E"], df="exact", name="m")
    with pytest.raises(
        ConfigError, match=r"mixed_models\.m\.contrasts\.site: no fixed term uses column 'site'"
    ):
        MixedModelSpec("P", ["E"], name="m", contrasts={"site": {"reference": "A"}})


def test_kenward_roger_adjusted_covariance_is_larger():
    result = _fit("sim1_slope")
    spec = _spec("sim1_slope")
    data = _data("sim1")
    X, _, Z, _ = result.recipe.matrices(data)
    s = group_statistics(data[spec.outcome].to_numpy(float), X, Z, data[spec.group].to_numpy())
    kr = KenwardRoger.at_fit(result.lmm, s)
    assert np.all(np.linalg.eigvalsh(kr.phi_adjusted - kr.phi) > -1e-12)


def test_wald_anova_is_the_chi_square_of_the_contrast():
    """df: wald -> F = W / q with W = (L b)' (L V L')^-1 (L b) and p from chi-square(q), den_df inf."""
    from scipy import stats

    result = fit_mixed_model(_data("sim2"), _spec("sim2_factor", "wald"), profile=False)
    row = result.anova.set_index("term").loc["site"]
    names = result.lmm.x_names
    rows = [names.index(n) for n in ("site[T.B]", "site[T.C]", "site[T.D]")]
    b, v = result.lmm.beta[rows], result.lmm.beta_cov[np.ix_(rows, rows)]
    wald = float(b @ np.linalg.solve(v, b))
    assert row["num_df"] == 3 and np.isinf(row["den_df"])
    assert row["F"] == pytest.approx(wald / 3, rel=1e-10)
    assert row["p"] == pytest.approx(stats.chi2.sf(wald, 3), rel=1e-10)
    assert np.isinf(result.fixed["df"]).all()


def test_failed_profile_keeps_the_fit_and_says_why(monkeypatch):
    import srflow.mixed.inference as inference

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(inference, "profile_intervals", broken)
    result = fit_mixed_model(_data("sim1"), _spec("sim1_intercept"), profile=True)
    assert result.status == "ok" and "ci" not in result.fit["variance_components"]
    assert (
        "Profile intervals of the variance components not computed: SVD did not converge"
        in result.fit["warnings"]
    )
    assert result.fit["r2_marginal"] is not None and len(result.anova) == 3
