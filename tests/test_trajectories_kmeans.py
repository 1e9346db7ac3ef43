"""Tests of srflow.trajectories.kmeans (longitudinal k-means like R kml).

Known answers: synthetic clusters with ground truth; criteria against
scikit-learn's calinski_harabasz_score / davies_bouldin_score on complete data
(1e-10), Ray-Turi and the missing-cell distance by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score

from srflow.errors import ModelError
from srflow.trajectories import LongitudinalKMeans
from srflow.trajectories.kmeans import _squared_distances, ray_turi


def make_clusters(
    n_per: int = 60, missing: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    waves = np.arange(1, 7)
    centres = np.array([[2, 2, 2, 2, 2, 2], [10, 8, 6, 4, 2, 0], [3, 5, 7, 9, 11, 13.0]])
    truth = np.repeat(np.arange(3), n_per)
    values = centres[truth] + rng.normal(0, 0.7, size=(truth.shape[0], 6))
    keep = rng.random(values.shape) >= missing
    keep[:, 0] = True  # everyone observed at least once
    rows, cols = np.nonzero(keep)
    data = pd.DataFrame({"participant_id": rows, "wave": waves[cols], "P": values[rows, cols]})
    return data, truth


def test_recovers_separated_clusters_with_missing_cells():
    data, truth = make_clusters()
    model = LongitudinalKMeans(3, n_init=10, random_state=1).fit(data, time="wave")
    assert np.isnan(model.values_).mean() > 0.1
    assert adjusted_rand_score(truth[model.participants_.astype(int)], model.labels_) == 1.0
    # canonical order: flat low (mean 2) < falling (mean 5) < rising (mean 8)
    np.testing.assert_allclose(model.cluster_centers_.mean(axis=1), [2, 5, 8], atol=0.3)


def test_criteria_match_direct_computation_on_complete_data():
    data, _ = make_clusters(missing=0.0)
    model = LongitudinalKMeans(3, n_init=5, random_state=0).fit(data, time="wave")
    labels = model.labels_ - 1
    x = model.values_
    assert model.calinski_harabasz_ == pytest.approx(calinski_harabasz_score(x, labels), rel=1e-10)
    assert model.davies_bouldin_ == pytest.approx(davies_bouldin_score(x, labels), rel=1e-10)
    centres = np.stack([x[labels == k].mean(axis=0) for k in range(3)])
    within = ((x - centres[labels]) ** 2).sum() / x.shape[0]
    gaps = [((centres[a] - centres[b]) ** 2).sum() for a in range(3) for b in range(a + 1, 3)]
    assert model.ray_turi_ == pytest.approx(within / min(gaps), rel=1e-10)
    assert ray_turi(x, labels) == pytest.approx(model.ray_turi_)
    # hand CH: [B/(K-1)] / [W/(n-K)]
    grand = x.mean(axis=0)
    between = sum((labels == k).sum() * ((centres[k] - grand) ** 2).sum() for k in range(3))
    wss = ((x - centres[labels]) ** 2).sum()
    assert model.calinski_harabasz_ == pytest.approx(
        (between / 2) / (wss / (x.shape[0] - 3)), rel=1e-10
    )


def test_missing_cell_distance_is_rescaled():
    values = np.array([[1.0, np.nan, 3.0, np.nan]])
    centres = np.array([[0.0, 5.0, 1.0, 9.0]])
    # observed cells: (1-0)^2 + (3-1)^2 = 5, over 2 of 4 cells -> 5 * 4 / 2 = 10
    dist = _squared_distances(values, np.isfinite(values), centres)
    assert dist[0, 0] == pytest.approx(10.0)


def test_same_seed_identical_and_errors():
    data, _ = make_clusters()
    a = LongitudinalKMeans(3, random_state=4).fit(data, time="wave")
    b = LongitudinalKMeans(3, random_state=4).fit(data, time="wave")
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert np.array_equal(a.labels_, b.labels_)
    with pytest.raises(ModelError, match="too few"):
        LongitudinalKMeans(3).fit(data[data["participant_id"] < 4], time="wave")
    same = data.assign(P=data["wave"] * 1.0)
    with pytest.raises(ModelError, match="identical"):
        LongitudinalKMeans(2).fit(same, time="wave")
