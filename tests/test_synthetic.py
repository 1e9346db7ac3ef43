"""Tests of the synthetic cohort simulator (srflow.synthetic).

Reference values come from the simulator's own ground truth (truth table,
the settings documented in the module docstring) or from hand counts stated
next to each assertion.

Speed (recorded, not asserted, to avoid a flaky timing test): on the 2-core
development machine ``simulate_cohort(100_000, 10, seed=1)`` took about 3 s
(840,274 rows x 57 columns, the 3 traits included; not re-timed) and ``write_cohort`` with the defaults about 2 s.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srflow.errors import InputError
from srflow.synthetic import (
    CLASS_SHARES,
    GENERAL_ITEMS,
    LIFE_ITEMS,
    POSITIVE_ITEMS,
    PROBLEM_ITEMS,
    TRAITS,
    TRAJECTORY_CLASSES,
    class_curve,
    effects_document,
    simulate_cohort,
    trait_effects,
    write_cohort,
)

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "data" / "synthetic"
ITEMS = [*PROBLEM_ITEMS, *GENERAL_ITEMS, *LIFE_ITEMS]
CONTRACT_COLUMNS = ["subject_id", "wave", "date", "age", "gender", "arm", *ITEMS, *TRAITS]
TRUTH_COLUMNS = [
    "participant_id",
    "wave",
    "trajectory_class",
    "baseline",
    "reactivity",
    "P_latent",
    "E_latent",
    "P_full",
    "E_general_full",
    "E_life_full",
    "n_missing_problem_items",
    "n_missing_general_items",
    "n_missing_life_items",
    *TRAITS,
]


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulate_cohort(400, 8, 20261121)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_cohort(tmp_path_factory.mktemp("synthetic"))


def reversed_problem_sum(data: pd.DataFrame) -> pd.Series:
    """Sum of GHQ items in problem direction (positively worded items: 3 - raw)."""
    values = data[list(PROBLEM_ITEMS)].astype("float64")
    for item in POSITIVE_ITEMS:
        values[item] = 3 - values[item]
    return values.sum(axis=1, min_count=1)


def within_slope(y: pd.Series, x: pd.Series, ids: pd.Series) -> pd.Series:
    """Per-participant OLS slope of y on x."""
    frame = pd.DataFrame({"x": x, "y": y, "id": ids})
    grouped = frame.groupby("id")
    xc = frame["x"] - grouped["x"].transform("mean")
    yc = frame["y"] - grouped["y"].transform("mean")
    return (xc * yc).groupby(frame["id"]).sum() / (xc * xc).groupby(frame["id"]).sum()


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_frames_and_csv_bytes() -> None:
    first = simulate_cohort(150, 5, 7)
    second = simulate_cohort(150, 5, 7)
    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(a, b)
        assert a.to_csv(index=False).encode() == b.to_csv(index=False).encode()
    other = simulate_cohort(150, 5, 8)
    assert not first[1]["P_latent"].head(100).equals(other[1]["P_latent"].head(100))
    assert first[0].to_csv(index=False) != other[0].to_csv(index=False)


def test_write_cohort_is_byte_identical(written: dict[str, Path], tmp_path: Path) -> None:
    again = write_cohort(tmp_path / "again")
    assert (
        set(again)
        == set(written)
        == {
            "cohort",
            "truth",
            "truth_effects",
            "wide",
            "sav",
            "dta",
            "xlsx",
            "parquet",
            "dirty",
            "dirty_faults",
            "r_export",
        }
    )
    for name, path in written.items():
        assert path.read_bytes() == again[name].read_bytes(), f"{name} differs between two runs"


def test_committed_csv_files_match_generator(written: dict[str, Path]) -> None:
    # The committed data/synthetic files are write_cohort(data/synthetic) with the defaults.
    for name in ["cohort", "truth", "truth_effects", "wide", "dirty", "dirty_faults", "r_export"]:
        relative = written[name].relative_to(written["cohort"].parent)
        committed = COMMITTED / relative
        assert committed.exists(), f"missing committed file {committed}"
        assert committed.read_bytes() == written[name].read_bytes(), (
            f"{committed} is stale; regenerate it"
        )


# --- shapes, types, ranges -------------------------------------------------------------------


def test_columns_types_and_ranges(cohort: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    data, truth = cohort
    assert list(data.columns) == CONTRACT_COLUMNS
    assert list(truth.columns) == TRUTH_COLUMNS
    assert len(data) == len(truth)
    assert data["subject_id"].str.fullmatch(r"S\d{4}").all()
    assert data["subject_id"].nunique() == 400
    assert data["wave"].between(1, 8).all()
    assert set(data["gender"].cat.categories) == {"female", "male", "diverse"}
    assert set(data["arm"]) == {"control", "intervention"}
    arms = data.drop_duplicates("subject_id")["arm"].value_counts()
    assert arms["control"] == arms["intervention"] == 200  # balanced by permutation
    assert data["age"].between(18, 80).all()
    assert (data.groupby("subject_id")["age"].nunique() == 1).all()
    for items, high in [(PROBLEM_ITEMS, 3), (GENERAL_ITEMS, 5), (LIFE_ITEMS, 5)]:
        values = data[list(items)]
        assert (values.min().min(), values.max().max()) == (0, high)
    # Dates: ISO strings, baseline in 2021, strictly increasing, ~28 days apart (28 +/- 3).
    assert data["date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    dates = pd.to_datetime(data["date"])
    assert dates[data["wave"] == 1].dt.year.eq(2021).all()
    gaps = dates.groupby(data["subject_id"]).diff().dropna().dt.days
    assert gaps.between(25, 31).all()
    # Truth columns agree with the data rows.
    assert (truth["participant_id"] == data["subject_id"]).all()
    assert (truth["wave"] == data["wave"]).all()
    assert truth["P_latent"].between(0, 36).all()


def test_life_events_are_rare_and_major_events_severe(
    cohort: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    data, _ = cohort
    life = data[list(LIFE_ITEMS)]
    assert (life.fillna(0) == 0).to_numpy().mean() > 0.97  # rates 0.08 + 0.4 events over 25 items
    major = data[list(LIFE_ITEMS[:5])].stack().dropna()
    assert major[major > 0].between(3, 5).all()
    minor = data[list(LIFE_ITEMS[5:])].stack().dropna()
    assert minor[minor > 0].between(1, 4).all()


def test_options_items_extra_and_errors() -> None:
    data, truth = simulate_cohort(30, 3, 1, items=False)
    assert list(data.columns) == ["subject_id", "wave", "date", "age", "gender", "arm", *TRAITS]
    assert truth["P_full"].notna().all()
    data, truth_extra = simulate_cohort(30, 3, 1, n_extra_items=2)
    assert list(data.columns[-5:-3]) == ["Q_001", "Q_002"]
    pd.testing.assert_frame_equal(truth_extra, truth)  # extra items do not disturb the other draws
    assert data[["Q_001", "Q_002"]].stack().dropna().between(1, 5).all()
    with pytest.raises(InputError, match="probability"):
        simulate_cohort(10, 2, 1, dropout=1.5)
    with pytest.raises(InputError, match="at least 1"):
        simulate_cohort(0, 2, 1)
    with pytest.raises(InputError, match="interval"):
        simulate_cohort(10, 2, 1, interval_days=3, interval_jitter=3)


def test_large_cohort_shape() -> None:
    # Speed for 100,000 x 10: see the simulate_cohort docstring; here only the shape at 20,000 x 10.
    data, truth = simulate_cohort(20_000, 10, 11)
    assert data.shape[1] == 57 and len(truth) == len(data)
    assert data["subject_id"].iloc[-1] == "S20000"
    assert 0.6 * 200_000 < len(data) < 0.9 * 200_000  # ~4 % dropout per wave over 9 waves


# --- latent model -----------------------------------------------------------------------------


def test_class_curves_by_hand() -> None:
    # From the module docstring: low 8, high 22, recovery/delayed bend with exponent 1.5.
    tau = np.array([0.0, 0.25, 1.0])
    np.testing.assert_allclose(class_curve("resilient", tau), [8, 8, 8])
    np.testing.assert_allclose(class_curve("chronic", tau), [22, 22, 22])
    np.testing.assert_allclose(class_curve("recovery", tau), [22, 8 + 14 * 0.75**1.5, 8])
    np.testing.assert_allclose(class_curve("delayed", tau), [8, 8 + 14 * 0.25**1.5, 22])
    with pytest.raises(InputError):
        class_curve("unknown", 0.0)


def test_class_shares_and_curves_large_n() -> None:
    _, truth = simulate_cohort(20_000, 4, 5, dropout=0.0)
    persons = truth.drop_duplicates("participant_id")
    shares = persons["trajectory_class"].value_counts(normalize=True)
    # SE of a share p at n = 20,000 is <= 0.0036; tolerance 0.012 is > 3 SE.
    for name, expected in zip(TRAJECTORY_CLASSES, CLASS_SHARES, strict=True):
        assert shares[name] == pytest.approx(expected, abs=0.012)
    means = truth.groupby(["trajectory_class", "wave"])["P_latent"].mean().unstack()
    assert means.loc["recovery", 1] - means.loc["recovery", 4] > 10
    assert means.loc["delayed", 4] - means.loc["delayed", 1] > 10
    assert abs(means.loc["chronic", 4] - means.loc["chronic", 1]) < 1
    assert means.loc["chronic"].min() > means.loc["resilient"].max() + 10
    reactivity = persons["reactivity"]
    assert reactivity.mean() == pytest.approx(0.5, abs=0.01)
    assert reactivity.std() == pytest.approx(0.2, abs=0.01)


def test_dropout_is_monotone_and_depends_on_previous_problems() -> None:
    data, truth = simulate_cohort(3000, 8, 3)
    waves = data.groupby("subject_id")["wave"]
    assert (waves.min() == 1).all()
    assert (waves.max() == waves.count()).all()  # waves present are exactly 1..k
    retention = (waves.max() == 8).mean()
    # Hazard 0.04 * (0.5 + P/20) with mean P ~ 11 gives ~4.3 % per wave: 0.957**7 = 0.74.
    assert 0.66 < retention < 0.82
    none, _ = simulate_cohort(50, 4, 3, dropout=0.0)
    assert len(none) == 200
    # MAR dropout: hazard 0.04 * (0.5 + P_prev / 20) is ~0.06 for P_prev >= 16 and ~0.025 for
    # P_prev < 6.
    last_wave = truth.groupby("participant_id")["wave"].transform("max")
    at_risk = truth["wave"] < 8
    left = (truth["wave"] == last_wave)[at_risk]
    previous = truth.loc[at_risk, "P_latent"]
    high, low = left[previous >= 16].mean(), left[previous < 6].mean()
    assert 0.045 < high < 0.08 and 0.015 < low < 0.035


def test_truth_sums_match_released_items(cohort: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    data, truth = cohort
    n_problem = data[list(PROBLEM_ITEMS)].isna().sum(axis=1)
    n_general = data[list(GENERAL_ITEMS)].isna().sum(axis=1)
    n_life = data[list(LIFE_ITEMS)].isna().sum(axis=1)
    assert (n_problem == truth["n_missing_problem_items"]).all()
    assert (n_general == truth["n_missing_general_items"]).all()
    assert (n_life == truth["n_missing_life_items"]).all()
    complete = n_problem == 0
    assert complete.mean() > 0.7
    assert (reversed_problem_sum(data)[complete] == truth.loc[complete, "P_full"]).all()
    complete_general = n_general == 0
    assert (
        data.loc[complete_general, list(GENERAL_ITEMS)].sum(axis=1)
        == truth.loc[complete_general, "E_general_full"]
    ).all()
    complete_life = n_life == 0
    assert (
        data.loc[complete_life, list(LIFE_ITEMS)].sum(axis=1)
        == truth.loc[complete_life, "E_life_full"]
    ).all()
    # Blank questionnaires: the whole GHQ block missing in ~1 % of rows, 1-2 blanks in ~3 % +
    # random blanks.
    whole = (n_problem == 12).mean()
    assert 0.003 < whole < 0.02
    assert ((n_problem >= 1) & (n_problem <= 2)).mean() > 0.03
    assert reversed_problem_sum(data)[n_problem == 12].isna().all()  # never 0
    cell_rate = data[list(GENERAL_ITEMS + LIFE_ITEMS)].isna().to_numpy().mean()
    assert cell_rate == pytest.approx(0.02, abs=0.004)


def test_stressor_sum_tracks_latent_exposure(cohort: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, truth = cohort
    stressor_sum = truth["E_general_full"] + truth["E_life_full"]
    assert np.corrcoef(truth["E_latent"], stressor_sum)[0, 1] > 0.9
    assert np.corrcoef(truth["P_latent"], truth["P_full"])[0, 1] > 0.9


def test_reactivity_is_recoverable_within_person() -> None:
    # 10 waves, no dropout: the within-person OLS slope of (P_latent - class curve) on E_latent
    # estimates b_i; residual noise SD 1 and within-person E SD ~6 give SE ~0.06 vs SD(b) = 0.2.
    _, truth = simulate_cohort(1000, 10, 2026, dropout=0.0)
    tau = (truth["wave"].to_numpy() - 1) / 9
    detrended = truth["P_latent"] - class_curve(truth["trajectory_class"].to_numpy(), tau)
    slope = within_slope(detrended, truth["E_latent"], truth["participant_id"])
    reactivity = truth.groupby("participant_id")["reactivity"].first()
    assert np.corrcoef(slope, reactivity.loc[slope.index])[0, 1] > 0.9
    assert slope.mean() == pytest.approx(0.5, abs=0.03)


# --- messy variants ---------------------------------------------------------------------------


def read_dirty(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=0)
    frame.index = frame.index.astype(int)
    return frame


def test_dirty_file_has_exactly_the_listed_faults(written: dict[str, Path]) -> None:
    header = written["dirty"].read_text().split("\n", 1)[0]
    assert header.startswith(",subject_id,wave,date,")  # unnamed leading index column
    dirty = read_dirty(written["dirty"])
    assert list(dirty.index) == list(range(1, len(dirty) + 1))
    faults = pd.read_csv(
        written["dirty_faults"], dtype={"row": "Int64", "wave": "Int64"}, keep_default_na=False
    )
    faults["row"] = pd.to_numeric(faults["row"].replace("", pd.NA)).astype("Int64")

    def listed(kind: str) -> set[tuple[int, str]]:
        chosen = faults[faults["kind"] == kind]
        return {(int(r), c) for r, c in zip(chosen["row"], chosen["column"], strict=True)}

    # Scan the file independently for each fault kind.
    ranges = {
        **{c: (0, 3) for c in PROBLEM_ITEMS},
        **{c: (0, 5) for c in GENERAL_ITEMS + LIFE_ITEMS},
    }
    found: dict[str, set[tuple[int, str]]] = {
        k: set() for k in ["out_of_range", "missing_code", "non_numeric"]
    }
    for column, (low, high) in ranges.items():
        for row, text in dirty[column].items():
            if text == "":
                continue
            if text == "-99":
                found["missing_code"].add((row, column))
            elif not re.fullmatch(r"-?\d+", text):
                found["non_numeric"].add((row, column))
            elif not low <= int(text) <= high:
                found["out_of_range"].add((row, column))
    for kind, cells in found.items():
        assert cells == listed(kind), kind
    assert found["out_of_range"] == {(r, c) for r, c in listed("out_of_range")}
    assert {c for _, c in found["out_of_range"]} == {"GHQ_05", "GE_03", "LE_10"}
    assert len(found["missing_code"]) == 4 and len(found["non_numeric"]) == 1

    duplicated = dirty.duplicated(["subject_id", "wave"], keep=False)
    assert {(int(r), "subject_id,wave") for r in dirty.index[duplicated]} == listed("duplicate_key")
    assert len(listed("duplicate_key")) == 2

    dates = pd.to_datetime(dirty["date"])
    backwards = dates.groupby(dirty["subject_id"]).diff().dt.days < 0
    assert {(int(r), "date") for r in dirty.index[backwards]} == listed("time_order")

    raw = dirty[list(PROBLEM_ITEMS)]
    straight = raw.ne("").all(axis=1) & raw.nunique(axis=1).eq(1)
    assert {(int(r), "GHQ_01:GHQ_12") for r in dirty.index[straight]} == listed("straight_lining")
    assert len(listed("straight_lining")) == 3

    newline = {
        (int(r), c) for c in ["comment", "GE_12"] for r in dirty.index[dirty[c].str.contains("\n")]
    }
    assert newline == listed("embedded_newline") and newline
    assert dirty["comment"].str.contains('"').any() and dirty["comment"].str.contains(",").any()
    assert dirty["GE_12"].ne("").any()
    assert set(faults.loc[faults["row"].isna(), "kind"]) == {
        "unnamed_index_column",
        "prefix_collision",
    }
    # Every listed cell value is what the file holds.
    for fault in faults[faults["row"].notna() & faults["column"].isin(dirty.columns)].itertuples():
        assert dirty.at[int(fault.row), fault.column] == fault.value
    # The dirty file is the first 60 participants plus one duplicated row.
    assert dirty["subject_id"].nunique() == 60
    cohort = pd.read_csv(written["cohort"], dtype=str)
    assert len(dirty) == cohort["subject_id"].isin(dirty["subject_id"]).sum() + 1


def test_r_export_shape(written: dict[str, Path]) -> None:
    path = written["r_export"]
    header = path.read_text().split("\n", 1)[0]
    assert header.startswith('"","X","ID","visit","date",')
    export = pd.read_csv(path, keep_default_na=True)
    assert export.shape[1] == 196
    assert (export.iloc[:, 0] == export["X"]).all()
    assert (export["X"] == np.arange(1, len(export) + 1)).all()
    assert export["ID"].nunique() == 200
    visits = export.groupby("ID")["visit"]
    assert visits.count().between(4, 6).all() and set(visits.count()) == {4, 5, 6}
    assert (visits.max() == visits.count()).all()
    gaps = pd.to_datetime(export["date"]).groupby(export["ID"]).diff().dropna().dt.days
    assert gaps.between(5, 9).all() and gaps.mean() == pytest.approx(7, abs=0.3)
    assert {"GE_12", "LE_26", "comment"} <= set(export.columns)
    assert export["comment"].str.contains("\n").any()
    assert "NA" in path.read_text() and export["GHQ_02"].isna().any()
    for items, high in [(PROBLEM_ITEMS, 3), (GENERAL_ITEMS, 5), (LIFE_ITEMS, 5)]:
        assert export[list(items)].stack().dropna().between(0, high).all()


def test_wide_file_matches_long(written: dict[str, Path]) -> None:
    wide = pd.read_csv(written["wide"])
    long = pd.read_csv(written["cohort"])
    long = long[long["subject_id"].isin(wide["subject_id"])]
    assert list(wide.columns[:4]) == ["subject_id", "age", "gender", "arm"]
    assert wide.shape == (60, 4 + 8 * (len(ITEMS) + 1))
    assert list(wide.columns[4:9]) == [
        "GHQ_01_t1",
        "GHQ_02_t1",
        "GHQ_03_t1",
        "GHQ_04_t1",
        "GHQ_05_t1",
    ]
    assert wide.columns[4 + len(ITEMS)] == "date_t1"
    melted = []
    for wave in range(1, 9):
        part = wide[["subject_id", f"date_t{wave}", *(f"{i}_t{wave}" for i in ITEMS)]].copy()
        part.columns = ["subject_id", "date", *ITEMS]
        part["wave"] = wave
        melted.append(part[part["date"].notna()])
    back = pd.concat(melted).sort_values(["subject_id", "wave"]).reset_index(drop=True)
    expected = long[["subject_id", "date", *ITEMS, "wave"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)


def test_binary_formats_hold_the_same_values(written: dict[str, Path]) -> None:
    import pyreadstat

    long = pd.read_csv(written["cohort"])
    subset = long[long["subject_id"].isin(long["subject_id"].unique()[:60])].reset_index(drop=True)
    subset = subset.drop(columns=list(TRAITS))  # the messy variants have no traits
    sav, meta = pyreadstat.read_sav(written["sav"], apply_value_formats=True)
    assert meta.variable_value_labels["gender"] == {1.0: "female", 2.0: "male", 3.0: "diverse"}
    assert meta.column_names_to_labels["GHQ_01"].startswith("GHQ-12-like item 1")
    dta = pd.read_stata(written["dta"])
    xlsx = pd.read_excel(written["xlsx"], sheet_name="cohort")
    parquet = pd.read_parquet(written["parquet"])
    for name, frame in [("sav", sav), ("dta", dta), ("xlsx", xlsx), ("parquet", parquet)]:
        assert list(frame.columns) == list(subset.columns), name
        assert len(frame) == len(subset), name
        np.testing.assert_array_equal(
            frame[ITEMS].to_numpy(dtype=float), subset[ITEMS].to_numpy(dtype=float), err_msg=name
        )
        assert (pd.to_datetime(frame["date"]) == pd.to_datetime(subset["date"])).all(), name
        assert (frame["gender"].astype(str) == subset["gender"]).all(), name
        assert (frame["subject_id"] == subset["subject_id"]).all(), name


# --- resilience factors (baseline traits with known effects) -------------------------------

#: sha256 of data/synthetic/cohort.csv and truth.csv as committed before the traits existed
#: (git show 5f0cade:data/synthetic/<file>): without the trait columns the files are unchanged.
BEFORE_TRAITS = {
    "cohort": "8822a482a934da9d0fc0a87262d8eda98fa887985ed43419a72a88e73928cdb0",
    "truth": "028c0213e2d8c46cfa5493865eab3d77dea00524514081244a09d72bd3d11c2e",
}


def test_traits_leave_every_other_column_byte_identical(written: dict[str, Path]) -> None:
    import hashlib

    for name, digest in BEFORE_TRAITS.items():
        lines = written[name].read_text(encoding="utf-8").splitlines(keepends=True)
        header = lines[0].rstrip("\n").split(",")
        assert header[-3:] == list(TRAITS)
        stripped = "".join(line.rstrip("\n").rsplit(",", 3)[0] + "\n" for line in lines)
        assert hashlib.sha256(stripped.encode()).hexdigest() == digest, name


def test_trait_effects_equal_the_hand_computed_joint_regression() -> None:
    """Two correlated traits (optimism, neuroticism) and an independent one (openness).

    In z units Corr(optimism, neuroticism) = (-0.6)(0) + (-0.3)(0.6) = -0.18; their
    covariances with z(reactivity) are (-0.6, 0) and with z(baseline) (-0.3, 0.6). Solving the
    2 x 2 normal equations by hand (determinant 1 - 0.18^2 = 0.9676) and rescaling by
    SD(value) / SD(trait) (0.2 / 10 and 2 / 10) gives the effects per trait point.
    """
    det = 1 - 0.18**2
    # beta_z = C^-1 c with C = [[1, -0.18], [-0.18, 1]]: (c1 + 0.18 c2, c2 + 0.18 c1) / det
    hand = {
        "reactivity": {
            "optimism": (-0.6 + 0.18 * 0) / det * 0.02,
            "neuroticism": (0 + 0.18 * -0.6) / det * 0.02,
        },
        "baseline": {
            "optimism": (-0.3 + 0.18 * 0.6) / det * 0.2,
            "neuroticism": (0.6 + 0.18 * -0.3) / det * 0.2,
        },
    }
    effects = trait_effects()
    for value, by_trait in hand.items():
        for trait, beta in by_trait.items():
            assert effects[value][trait] == pytest.approx(beta, rel=1e-12), (value, trait)
        assert effects[value]["openness"] == 0.0
    assert effects_document()["effects"] == effects


def test_trait_effects_are_recovered_from_a_large_sample() -> None:
    """Seed 4, 100,000 people: the OLS of the true reactivity and baseline on the traits
    recovers every effect within 4 standard errors (and the traits are T-scores)."""
    _, truth = simulate_cohort(100_000, 1, 4, items=False)
    X = np.column_stack([np.ones(len(truth)), truth[list(TRAITS)].to_numpy()])
    np.testing.assert_allclose(X[:, 1:].mean(axis=0), 50, atol=0.1)
    np.testing.assert_allclose(X[:, 1:].std(axis=0, ddof=1), 10, rtol=0.01)
    XtX_inv = np.linalg.inv(X.T @ X)
    for value, by_trait in trait_effects().items():
        y = truth[value].to_numpy()
        beta = XtX_inv @ X.T @ y
        resid = y - X @ beta
        se = np.sqrt(np.diag(XtX_inv) * (resid @ resid) / (len(y) - X.shape[1]))
        for k, trait in enumerate(TRAITS, start=1):
            assert abs(beta[k] - by_trait[trait]) < 4 * se[k], (value, trait, beta[k], se[k])


def test_traits_are_constant_within_a_participant(
    cohort: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    data, truth = cohort
    assert (data.groupby("subject_id")[list(TRAITS)].nunique() == 1).all().all()
    np.testing.assert_array_equal(data[list(TRAITS)].to_numpy(), truth[list(TRAITS)].to_numpy())


@pytest.fixture(scope="module")
def bundled_scores() -> pd.DataFrame:
    """The bundled cohort's scores (P, E from srflow's scoring, stored for the R reference)
    with the trait covariates of data/synthetic/cohort.csv."""
    scores = pd.read_csv(
        REPO / "tests" / "data" / "sr_reference" / "synthetic_scores.csv",
        dtype={"participant_id": str, "arm": str},
    )
    traits = pd.read_csv(
        COMMITTED / "cohort.csv", usecols=["subject_id", "wave", *TRAITS], dtype={"subject_id": str}
    )
    traits = traits.rename(columns={"subject_id": "participant_id"})
    return scores.merge(traits, on=["participant_id", "wave"], how="left", validate="1:1")


def test_period_sr_regression_recovers_the_baseline_effects(bundled_scores: pd.DataFrame) -> None:
    """The default config's regression rf_traits (sr:person on the traits, seed 20261121).

    Period SR centres E, so what a trait does to it is its effect on the baseline offset
    (see srflow.synthetic.traits): each 95 % CI covers that truth, optimism (-0.040) and
    neuroticism (+0.113) are significant with the right sign, openness' CI covers 0.
    """
    from srflow.config import RegressionSpec, load_config
    from srflow.regression import fit_regression
    from srflow.sr import compute_sr

    cohort = load_config(REPO / "config" / "config.yaml").cohort("synthetic")
    assert {t: cohort.columns.covariates[t] for t in TRAITS} == dict.fromkeys(TRAITS, "numeric")
    person = compute_sr(bundled_scores, cohort.sr["person"], "person")
    spec = RegressionSpec.from_config("rf_traits", cohort.regressions["rf_traits"])
    result = fit_regression(bundled_scores, {"person": person.table}, spec)
    table = result.coefficients.set_index("term")
    truth = trait_effects()["baseline"]
    for trait in TRAITS:
        assert table.at[trait, "ci_low"] < truth[trait] < table.at[trait, "ci_high"], trait
    assert table.at["optimism", "ci_high"] < 0 < table.at["neuroticism", "ci_low"]
    assert result.status == "ok" and result.fit["n_obs"] >= 350


def test_moderation_model_recovers_the_reactivity_effects(bundled_scores: pd.DataFrame) -> None:
    """P ~ E + wave + traits + E:traits + (1 + E | participant) by REML on the bundled cohort.

    The E:trait coefficients estimate the traits' effects on reactivity (truth -0.0124 for
    optimism, -0.0022 for neuroticism, 0 for openness); each lies inside its 99 % Wald CI
    (99 %: three joint checks), and optimism's CI excludes 0.
    """
    from scipy import stats

    from srflow.mixed import fit_lmm

    ok = bundled_scores.dropna(subset=["P", "E"])
    traits = ok[list(TRAITS)].to_numpy()
    X = np.column_stack(
        [np.ones(len(ok)), ok["E"], ok["wave"], traits, traits * ok[["E"]].to_numpy()]
    )
    Z = np.column_stack([np.ones(len(ok)), ok["E"]])
    fit = fit_lmm(ok["P"].to_numpy(), X, Z, ok["participant_id"].to_numpy())
    assert fit.converged and not fit.singular
    z = stats.norm.ppf(0.995)
    truth = trait_effects()["reactivity"]
    for k, trait in enumerate(TRAITS):
        estimate, se = fit.beta[6 + k], fit.beta_se[6 + k]
        assert abs(estimate - truth[trait]) < z * se, (trait, estimate, se)
    assert fit.beta[6] + z * fit.beta_se[6] < 0
