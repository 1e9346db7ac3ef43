"""Classifying participants with a stored trajectory fit (srflow.trajectories.classify, `srflow classify`).

Known answers used here:
* reproduction: the fit stage's own posteriors (``fits/K{k}.classes.parquet``) of the fitted
  participants, recomputed from the fit JSON and the scores table, to 1e-10 (LCGA, GMM with a
  random intercept, GMM with a random intercept and slope, an anchored LCGA); k-means classes
  exactly;
* hand computations: Bayes' rule with Gaussian densities written out in the test (a 2-class
  LCGA, one participant with two of four waves missing; a 2-class GMM with a random intercept
  and slope, its marginal covariance ``sigma^2 I + Z D Z'`` built by hand in the Legendre time
  coding [-1, 1]), to 1e-12 relative;
* hold-out: a growth mixture fitted on half of a simulated cohort with known classes classifies
  the other half with an adjusted Rand index (against the truth) within 0.08 of the in-sample
  one (two halves of 400: the ARI's sampling SD is about 0.02-0.03; measured differences on
  six seeds/settings were -0.045..+0.021);
* the CLI writes the same posteriors as the fit and the labels of classes.csv; bad inputs exit
  1 with one line naming the file or column.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from srflow.cli import main
from srflow.errors import InputError
from srflow.results import ResultContractError, TrajectoryFit
from srflow.results.trajectories import TrajectoryParameters
from srflow.stages import trajectory_fit_stage
from srflow.trajectories import GMM
from srflow.trajectories.classify import TrajectoryClassifier, fit_parameters
from srflow.trajectories.gather import gather_classes, gather_curves
from srflow.trajectories.series import trajectory_series
from trajectory_cohorts import growth_mixture_cohort

BASE = {
    "variable": "P",
    "time": "wave",
    "degree": 2,
    "variance": "class",
    "random": ["intercept"],
    "random_variance": "shared",
    "starts": 4,
    "labels": {"high": None, "low": None, "change": None},
}
SPECS = {
    "lcga": {**BASE, "method": "lcga"},
    "gmm_intercept": {**BASE, "method": "gmm", "variance": "shared"},
    "gmm_slope": {
        **BASE,
        "method": "gmm",
        "random": ["intercept", "slope"],
        "random_variance": "class",
    },
    "anchored": {
        **BASE,
        "method": "lcga",
        "degree": 1,
        "anchor": {"column": "E", "threshold": 4.0, "pre": 1, "peri": 1, "post": 2},
    },
    "kmeans": {**BASE, "method": "kmeans"},
    "sr_on_time": {**BASE, "method": "lcga", "degree": 1, "variable": "sr:w", "time": "time"},
}
K = 3


def _scores() -> pd.DataFrame:
    """A simulated cohort as a scores table, a stressor E with one event for most, one empty row set."""
    data = growth_mixture_cohort(n=150, n_waves=6, sigma=2.0, missing=0.15, seed=11)
    rng = np.random.default_rng(5)
    event_wave = rng.integers(2, 5, size=150)  # waves 2..4 (after an assessed wave)
    event_wave[rng.random(150) < 0.2] = 99  # about a fifth never has the event
    wave = data["time"].astype("int64").to_numpy() + 1
    scores = pd.DataFrame(
        {
            "participant_id": [f"P{i:03d}" for i in data["id"]],
            "wave": wave,
            "P": data["P"].to_numpy(),
            "E": np.where(wave == event_wave[data["id"]], 6.0, 1.0),
            "time": (wave - 1) * 7.0 + rng.integers(0, 3, size=len(data)),  # days, unbalanced
        }
    )
    scores["sr"] = scores["P"] - 0.5 * scores["E"]  # stands for a wave-level SR score
    # a participant whose every P is missing: no class, with a note
    empty = pd.DataFrame(
        {"participant_id": "P999", "wave": [1, 2], "P": np.nan, "E": 1.0, "time": [0.0, 7.0]}
    )
    return pd.concat([scores, empty], ignore_index=True)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Per spec: (spec, fit JSON path, classes parquet path), fitted by the fit stage."""
    root = tmp_path_factory.mktemp("fits")
    scores = _scores()
    out = {}
    for name, spec in SPECS.items():
        series = root / f"{name}.series.parquet"
        sr_table = scores[["participant_id", "wave", "sr"]]
        trajectory_series(scores, spec, sr_table=sr_table).data.to_parquet(series, index=False)
        fit, classes = root / f"{name}.K{K}.json", root / f"{name}.K{K}.classes.parquet"
        trajectory_fit_stage(spec, 7, "cohort", name, K, str(series), str(fit), str(classes))
        out[name] = (spec, fit, classes)
    return scores, out


# ------------------------------------------------------------------ (a) reproduction


@pytest.mark.parametrize(
    "name", ["lcga", "gmm_intercept", "gmm_slope", "anchored", "kmeans", "sr_on_time"]
)
def test_the_fitted_participants_get_the_fits_posteriors_back(fitted, name):
    scores, fits = fitted
    spec, fit, classes_path = fits[name]
    model = TrajectoryClassifier.from_fit(fit)
    table = model.posterior_table(model.series_from_scores(scores, source="scores"))
    stored = pd.read_parquet(classes_path).set_index("participant_id")
    assert len(stored) > 100
    mine = table.set_index("participant_id")
    post = [f"post_{k}" for k in range(1, K + 1)]
    assert np.abs(mine.loc[stored.index, post].to_numpy() - stored[post].to_numpy()).max() < 1e-10
    assert (mine.loc[stored.index, "class"].astype(int) == stored["class"]).all()
    # everybody else (all P missing; anchored: no event) has no class and NaN posteriors
    others = mine.drop(index=stored.index)
    assert "P999" in others.index
    assert others["class"].isna().all() and others[post].isna().all().all()
    assert model.notes and f"{len(others)} participant(s)" in model.notes[0]
    if name == "anchored":
        assert len(others) > 10  # the participants without an event


@pytest.mark.parametrize("name", list(SPECS))
def test_labels_are_those_of_classes_csv(fitted, name):
    scores, fits = fitted
    spec, fit, classes_path = fits[name]
    record = json.loads(fit.read_text())
    gathered, _ = gather_classes(spec, gather_curves([record]), [pd.read_parquet(classes_path)])
    expected = gathered.drop_duplicates("class").set_index("class")["label"]
    model = TrajectoryClassifier.from_fit(fit)
    assert model.labels_ == expected.sort_index().tolist()


def test_kmeans_refuses_times_off_its_grid(fitted):
    _, fits = fitted
    model = TrajectoryClassifier.from_fit(fits["kmeans"][1])
    series = pd.DataFrame({"participant_id": "x", "wave": [1.0, 2.5], "P": [3.0, 4.0]})
    with pytest.raises(InputError, match="2.5 are not time points of the k-means fit"):
        model.predict_proba(series)


# ------------------------------------------------------------------ (b) by hand


def _stored(method: str, **extra) -> dict:
    return {
        "srflow_version": "test",
        "method": method,
        "labels": ["low", "high"],
        "series": {
            "variable": "P",
            "outcome": "P",
            "participant": "participant_id",
            "wave": "wave",
            "axis": "wave",
            "anchor": None,
        },
        **extra,
    }


def _normal_logpdf(y: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> float:
    resid = y - mean
    sign, logdet = np.linalg.slogdet(cov)
    assert sign > 0
    return -0.5 * (len(y) * math.log(2 * math.pi) + logdet + resid @ np.linalg.solve(cov, resid))


def test_two_class_lcga_posterior_by_hand():
    # waves 1..4 mapped to u = (wave - 2.5) / 1.5; class means b0 + b1 u (Legendre P0 = 1, P1 = u)
    stored = _stored(
        "lcga",
        basis={"coding": "legendre", "time": "wave", "degree": 1, "domain": [1.0, 4.0]},
        weights=[0.7, 0.3],
        variance="class",
        coefficients=[[4.0, 0.0], [12.0, -3.0]],
        sigma2=[1.0, 2.5],
    )
    # one participant seen at waves 1 and 4 only (waves 2 and 3 missing)
    series = pd.DataFrame({"participant_id": ["a"] * 4, "wave": [1, 2, 3, 4]})
    series["P"] = [9.0, np.nan, np.nan, 6.0]
    # by hand: u = -1 and +1; class 1 mean 4, 4; class 2 mean 15, 9
    log1 = math.log(0.7) - math.log(2 * math.pi * 1.0) - ((9 - 4) ** 2 + (6 - 4) ** 2) / (2 * 1.0)
    log2 = math.log(0.3) - math.log(2 * math.pi * 2.5) - ((9 - 15) ** 2 + (6 - 9) ** 2) / (2 * 2.5)
    expected = 1.0 / (1.0 + math.exp(log1 - log2))  # P(class 2)
    model = TrajectoryClassifier(stored)
    posterior = model.predict_proba(series)
    assert posterior.shape == (1, 2)
    assert posterior[0, 1] == pytest.approx(expected, rel=1e-12)
    assert posterior.sum() == pytest.approx(1.0, rel=1e-14)
    assert model.predict(series).tolist() == [1 if expected < 0.5 else 2]


def test_gmm_random_slope_posterior_by_hand():
    d1 = np.array([[4.0, 0.6], [0.6, 1.0]])
    d2 = np.array([[2.0, -0.3], [-0.3, 0.5]])
    stored = _stored(
        "gmm",
        basis={"coding": "legendre", "time": "wave", "degree": 1, "domain": [0.0, 4.0]},
        weights=[0.6, 0.4],
        variance="class",
        coefficients=[[5.0, 1.0], [9.0, -2.0]],
        sigma2=[1.5, 0.8],
        random=["intercept", "slope"],
        random_variance="class",
        random_cov=[d1.tolist(), d2.tolist()],
    )
    waves = np.array([0.0, 1.0, 3.0])  # unbalanced: wave 2 and 4 not assessed
    y = np.array([6.5, 6.0, 4.0])
    u = (waves - 2.0) / 2.0
    z = np.column_stack([np.ones(3), u])
    logs = [
        math.log(w) + _normal_logpdf(y, b[0] + b[1] * u, s2 * np.eye(3) + z @ d @ z.T)
        for w, b, s2, d in [(0.6, (5.0, 1.0), 1.5, d1), (0.4, (9.0, -2.0), 0.8, d2)]
    ]
    expected = np.exp(np.array(logs) - np.logaddexp(*logs))
    series = pd.DataFrame({"participant_id": "a", "wave": waves, "P": y})
    posterior = TrajectoryClassifier(stored).predict_proba(series)
    np.testing.assert_allclose(posterior[0], expected, rtol=1e-12)


# ------------------------------------------------------------------ (c) hold-out


@pytest.mark.parametrize(
    ("seed", "random", "slope_sd"),
    [(2026, ("intercept",), 0.0), (1, ("intercept", "slope"), 0.3)],
)
def test_held_out_half_is_classified_as_well_as_the_fitted_half(seed, random, slope_sd):
    data = growth_mixture_cohort(
        n=800, seed=seed, slope_sd=slope_sd, sigma=4.0, intercept_sd=2.5, missing=0.25
    )
    truth = data.groupby("id")["true_class"].first()
    train, test = data[data["id"] % 2 == 0], data[data["id"] % 2 == 1]
    model = GMM(4, degree=2, variance="shared", random=random, n_init=10, random_state=3)
    model.fit(train, participant="id", time="time", outcome="P")
    in_sample = adjusted_rand_score(truth.reindex(model.participants_), model.labels_)
    spec = {"method": "gmm", "variable": "P", "time": "time", "anchor": None}
    classifier = TrajectoryClassifier(fit_parameters(model, spec, "time", "P", list("abcd")))
    held_out = test.rename(columns={"id": "participant_id"})
    predicted = classifier.predict(held_out)
    ids = classifier.participants(held_out)
    assert len(ids) == 400 and (predicted > 0).all()
    out_of_sample = adjusted_rand_score(truth.reindex(ids), predicted)
    assert in_sample > 0.6
    assert abs(out_of_sample - in_sample) < 0.08


# ------------------------------------------------------------------ (d) CLI


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main(["classify", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_writes_the_fits_posteriors_and_labels(fitted, tmp_path, capsys):
    scores, fits = fitted
    spec, fit, classes_path = fits["gmm_intercept"]
    source = tmp_path / "scores.csv"
    scores.to_csv(source, index=False)
    out = tmp_path / "posteriors.csv"
    code, stdout, stderr = _run(capsys, "--fit", fit, "--input", source, "--output", out)
    assert code == 0
    stored = pd.read_parquet(classes_path).set_index("participant_id")
    sizes = "/".join(map(str, np.bincount(stored["class"], minlength=K + 1)[1:]))
    assert stdout == f"wrote {out}: 151 participants (1 without a class), class sizes {sizes}\n"
    assert "1 participant(s) have no observed P" in stderr and "P999" in stderr
    table = pd.read_csv(out, dtype={"participant_id": "str"})
    assert list(table.columns) == ["participant_id", "class", "label", "post_1", "post_2", "post_3"]
    record = json.loads(fit.read_text())
    labelled, _ = gather_classes(spec, gather_curves([record]), [pd.read_parquet(classes_path)])
    mine = table.set_index("participant_id").loc[stored.index]
    post = ["post_1", "post_2", "post_3"]
    assert np.abs(mine[post].to_numpy() - stored[post].to_numpy()).max() < 1e-10
    assert (mine["label"] == labelled.set_index("participant_id").loc[stored.index, "label"]).all()
    # printed to stdout without --output: the same table
    code, stdout, _ = _run(capsys, "--fit", fit, "--input", source)
    assert code == 0 and stdout == out.read_text()


def test_cli_renamed_columns(fitted, tmp_path, capsys):
    scores, fits = fitted
    fit = fits["lcga"][1]
    plain, renamed = tmp_path / "plain.csv", tmp_path / "renamed.csv"
    scores.to_csv(plain, index=False)
    scores.rename(columns={"participant_id": "subject", "P": "ghq"}).to_csv(renamed, index=False)
    assert _run(capsys, "--fit", fit, "--input", plain, "--output", tmp_path / "a.csv")[0] == 0
    code, _, _ = _run(
        capsys, "--fit", fit, "--input", renamed, "--participant", "subject", "--score", "ghq",
        "--output", tmp_path / "b.csv",
    )  # fmt: skip
    assert code == 0
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def _bad_inputs(fit: Path, scores: pd.DataFrame, tmp: Path) -> dict[str, tuple[list, str]]:
    """Name -> (arguments, text the one-line message must hold)."""
    good = tmp / "scores.csv"
    scores.to_csv(good, index=False)
    record = json.loads(fit.read_text())
    failed = tmp / "failed.json"
    failed.write_text(
        json.dumps({"spec": "s", "K": 4, "status": "failed", "reason": "too few participants"})
    )
    old = tmp / "old.json"
    old.write_text(json.dumps({k: v for k, v in record.items() if k != "parameters"}))
    broken = tmp / "broken.json"
    broken.write_text(
        json.dumps({**record, "parameters": {**record["parameters"], "weights": "x"}})
    )
    no_score = tmp / "no_score.csv"
    scores.drop(columns="P").to_csv(no_score, index=False)
    no_id = tmp / "no_id.csv"
    scores.rename(columns={"participant_id": "subject"}).to_csv(no_id, index=False)
    text_score = tmp / "text_score.csv"
    scores.astype({"P": "object"}).assign(P=lambda f: f["P"].where(f.index != 3, "high")).to_csv(
        text_score, index=False
    )
    half_wave = tmp / "half_wave.csv"
    scores.assign(wave=lambda f: f["wave"].where(f.index != 1, 2.5)).to_csv(half_wave, index=False)
    twice = tmp / "twice.csv"
    pd.concat([scores, scores.iloc[[0]]]).to_csv(twice, index=False)
    missing = tmp / "nowhere.csv"
    return {
        "input missing": (["--fit", fit, "--input", missing], f"--input {missing}: no such file"),
        "fit missing": (["--fit", tmp / "K9.json", "--input", good], "K9.json: no such fit file"),
        "fit failed": (["--fit", failed, "--input", good], "the K=4 fit of spec 's' failed"),
        "no parameters": (["--fit", old, "--input", good], "rerun rule fit_trajectories"),
        "bad parameters": (["--fit", broken, "--input", good], "parameters.weights"),
        "no score": (["--fit", fit, "--input", no_score], f"{no_score}: no column 'P'"),
        "no participant": (["--fit", fit, "--input", no_id], "no column 'participant_id'"),
        "renamed column absent": (
            ["--fit", fit, "--input", good, "--score", "ghq"],
            "no column 'ghq' (given as --score)",
        ),
        "text score": (["--fit", fit, "--input", text_score], "column 'P' must be numeric; row 4"),
        "half wave": (
            ["--fit", fit, "--input", half_wave],
            "whole wave numbers; row 2 holds '2.5'",
        ),
        "repeated wave": (
            ["--fit", fit, "--input", twice],
            "1 row(s) repeat a participant and wave, e.g. participant 'P000' at wave 1",
        ),
    }


def test_cli_bad_inputs_exit_1_with_one_line(fitted, tmp_path, capsys):
    scores, fits = fitted
    for name, (args, expected) in _bad_inputs(fits["lcga"][1], scores, tmp_path).items():
        code, stdout, stderr = _run(capsys, *args)
        assert code == 1, name
        assert stdout == "", name
        assert stderr.count("\n") == 1 and stderr.startswith("srflow classify: "), name
        assert expected in stderr, (name, stderr)
        assert "Traceback" not in stderr


# ------------------------------------------------------------------ (e) the contract field


def test_parameters_round_trip_through_the_contract(fitted, tmp_path):
    _, fits = fitted
    for name, (spec, fit, _) in fits.items():
        raw = json.loads(fit.read_text())
        record = TrajectoryFit.read(fit)
        assert record.has("parameters")
        assert record.to_json() == raw
        copy = tmp_path / f"{name}.json"
        record.write(copy)
        assert copy.read_bytes() == fit.read_bytes()
        parameters = record.parameters
        assert parameters.method == spec["method"] and len(parameters.weights) == K
        assert parameters.series.anchor == (spec.get("anchor") or None)
        if spec["method"] == "kmeans":
            assert parameters.basis.coding == "grid" and len(parameters.centres) == K
            assert not parameters.has("coefficients")
        else:
            assert parameters.basis.coding == "legendre"
            assert parameters.basis.degree == spec["degree"]
            assert np.shape(parameters.coefficients) == (K, spec["degree"] + 1)
            assert parameters.has("random_cov") == (spec["method"] == "gmm")
    gmm = TrajectoryFit.read(fits["gmm_slope"][1]).parameters
    assert np.shape(gmm.random_cov) == (K, 2, 2) and gmm.random == ("intercept", "slope")


def test_parameters_raw_coefficients_are_the_basis_curves_in_powers_of_time(fitted):
    _, fits = fitted
    parameters = TrajectoryFit.read(fits["lcga"][1]).parameters
    lo, hi = parameters.basis.domain
    waves = np.array([1.0, 2.5, 6.0])
    u = (waves - (lo + hi) / 2) / ((hi - lo) / 2)
    legendre = np.polynomial.legendre.legvander(u, 2) @ np.asarray(parameters.coefficients).T
    raw = np.vander(waves, 3, increasing=True) @ np.asarray(parameters.coefficients_raw).T
    np.testing.assert_allclose(raw, legendre, rtol=1e-10)


def test_parameters_contract_refuses_a_missing_key():
    stored = _stored("lcga", weights=[1.0])  # no basis
    with pytest.raises(ResultContractError, match=r"missing key\(s\) \['basis'\]"):
        TrajectoryParameters.from_json(stored)
