"""Classify new participants with a stored trajectory fit (``parameters`` of ``fits/K{k}.json``).

A fit record stores what classification needs: the mixing weights, the class curves in the
fit's time basis (time mapped linearly from the fitted time range onto [-1, 1], then Legendre
polynomials), the residual variances, for a growth mixture the random-effect covariances (in
that same basis), for k-means the centres on the fit's time grid, the class labels and how the
series was built (score variable, time axis, anchoring). :class:`TrajectoryClassifier` builds
the model from them and gives posterior class probabilities by Bayes' rule,

    P(class k | y_i) = pi_k N(y_i | X_i beta_k, V_ik) / sum_l pi_l N(y_i | X_i beta_l, V_il),

computed by the very E-step the fits use (:class:`~srflow.trajectories.em.LcgaEngine`,
:class:`~srflow.trajectories.gmm_engine.GmmEngine`), so the fitted participants get back the
fit's posteriors exactly. Each participant's own observed waves enter (unbalanced and missing
waves allowed, as in the fit). K-means has no likelihood: a participant goes to the nearest
centre by the kml distance the fit uses (posterior 1 for that class, 0 for the others).

A participant whose rows hold no observed value (or, for an anchored fit, no anchor event)
gets a row of NaN posteriors and class 0 ("no class"); :attr:`TrajectoryClassifier.notes`
says who.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srflow.errors import InputError, ModelError
from srflow.results.trajectories import TrajectoryFit, TrajectoryParameters
from srflow.trajectories.em import LcgaEngine, MixtureParams
from srflow.trajectories.gmm_engine import GmmEngine
from srflow.trajectories.kmeans import _squared_distances, pivot_series
from srflow.trajectories.panel import PanelData, prepare_panel, sufficient_stats
from srflow.trajectories.series import trajectory_series

__all__ = ["TrajectoryClassifier", "fit_parameters"]


def fit_parameters(
    model: Any, spec: Mapping[str, Any], time: str, outcome: str, labels: list[str]
) -> dict[str, Any]:
    """The ``parameters`` of a fit record: a fitted model's estimates and its series definition.

    Parameters
    ----------
    model : LCGA, GMM or LongitudinalKMeans
        A fitted model.
    spec : mapping
        The trajectory spec (``method``, ``variable``, ``time``, ``anchor``; defaults filled).
    time, outcome : str
        The series' time-axis and outcome columns.
    labels : list of str
        Class labels, class 1 first.

    Returns
    -------
    dict
        A JSON mapping of :class:`~srflow.results.trajectories.TrajectoryParameters`.
    """
    from srflow import __version__

    method = str(spec["method"])
    stored: dict[str, Any] = {
        "srflow_version": __version__,
        "method": method,
        "series": {
            "variable": str(spec["variable"]),
            "outcome": outcome,
            "participant": "participant_id",
            "wave": "wave",
            "axis": str(spec["time"]),
            "anchor": dict(spec["anchor"]) if spec.get("anchor") else None,
        },
        "labels": list(labels),
        "weights": np.asarray(model.weights_, dtype=float).tolist(),
    }
    if method == "kmeans":
        stored["basis"] = {"coding": "grid", "time": time, "grid": model.times_.tolist()}
        stored["centres"] = model.cluster_centers_.tolist()
        return stored
    params = model.params_
    stored.update(
        basis={
            "coding": "legendre",
            "time": time,
            "degree": int(model.degree),
            "domain": [float(v) for v in model.time_domain_],
        },
        variance=str(model.variance),
        coefficients=params.beta[0].tolist(),
        coefficients_raw=model.coef_.tolist(),
        sigma2=params.sigma2[0].tolist(),
    )
    if params.d is not None:
        stored.update(
            random=list(model.random),
            random_variance=str(model.random_variance),
            random_cov=params.d[0].tolist(),
        )
    return stored


class TrajectoryClassifier:
    """A stored trajectory fit as a classifier of new participants' series.

    Parameters
    ----------
    parameters : TrajectoryParameters or mapping
        The ``parameters`` of a fit record (a mapping is checked against the contract).

    Attributes
    ----------
    n_classes : int
        K.
    method : str
        ``lcga``, ``gmm`` or ``kmeans``.
    labels_ : list of str
        Class labels, class 1 first.
    participant, time, outcome : str
        Columns of the series :meth:`predict_proba` reads.
    notes : list of str
        What the last classification could not do (participants without observations).

    Examples
    --------
    Two flat classes at 0 and 10, residual variance 4, equal weights. A participant observed
    at 9 and 11 has log-odds of class 2 against class 1 of
    ``sum_t [(y_t - 0)^2 - (y_t - 10)^2] / (2 * 4) = (81 + 121 - 1 - 1) / 8``:

    >>> import numpy as np, pandas as pd
    >>> stored = {"srflow_version": "0", "method": "lcga", "labels": ["low", "high"],
    ...           "series": {"variable": "P", "outcome": "P", "participant": "participant_id",
    ...                      "wave": "wave", "axis": "wave", "anchor": None},
    ...           "basis": {"coding": "legendre", "time": "wave", "degree": 0,
    ...                     "domain": [1.0, 2.0]},
    ...           "weights": [0.5, 0.5], "variance": "shared",
    ...           "coefficients": [[0.0], [10.0]], "sigma2": [4.0, 4.0]}
    >>> model = TrajectoryClassifier(stored)
    >>> series = pd.DataFrame({"participant_id": ["a", "a"], "wave": [1, 2], "P": [9.0, 11.0]})
    >>> odds = np.exp((81 + 121 - 1 - 1) / 8)
    >>> bool(np.isclose(model.predict_proba(series)[0, 1], odds / (1 + odds), rtol=1e-12))
    True
    >>> model.predict(series).tolist()
    [2]
    """

    def __init__(self, parameters: TrajectoryParameters | Mapping[str, Any]):
        if not isinstance(parameters, TrajectoryParameters):
            parameters = TrajectoryParameters.from_json(parameters)
        self.parameters = parameters
        self.method = parameters.method
        self.labels_ = list(parameters.labels)
        self.n_classes = len(parameters.weights)
        self.participant = parameters.series.participant
        self.time = parameters.basis.time
        self.outcome = parameters.series.outcome
        self.notes: list[str] = []

    @property
    def score_column(self) -> str:
        """The scores-table column the fit models (``sr`` for an SR variable)."""
        variable = self.parameters.series.variable
        return self.parameters.series.outcome if variable.startswith("sr:") else variable

    @classmethod
    def from_fit(cls, fit: TrajectoryFit | str | Path) -> TrajectoryClassifier:
        """The classifier of a fit record or a ``fits/K{k}.json`` file.

        Raises
        ------
        InputError
            The file is missing or not a fit record, the fit failed, or it has no stored
            parameters (written by an older srflow: rerun rule ``fit_trajectories``).
        """
        where = "the fit record"
        if not isinstance(fit, TrajectoryFit):
            where = str(fit)
            if not Path(fit).is_file():
                raise InputError(
                    f"{where}: no such fit file (a fits/K<k>.json of a trajectory spec)"
                )
            fit = TrajectoryFit.read(fit)
        if fit.status != "ok":
            raise InputError(
                f"{where}: the K={fit.K} fit of spec '{fit.spec}' failed ({fit.reason}); "
                "classify with the fit of another K"
            )
        if not fit.has("parameters"):
            raise InputError(
                f"{where}: the fit stores no parameters (written by an older srflow); rerun rule "
                "fit_trajectories to store them, e.g. snakemake --forcerun fit_trajectories"
            )
        return cls(fit.parameters)

    # --- the series of a scores table -----------------------------------------------------
    def series_from_scores(self, scores: pd.DataFrame, source: str = "the input") -> pd.DataFrame:
        """The series this fit models, built from a scores table as the pipeline builds it.

        Parameters
        ----------
        scores : pandas.DataFrame
            ``participant_id, wave``, the fit's score variable (``sr`` for an SR variable:
            e.g. an ``sr/{spec}.csv`` table), ``time`` for a fit on time, and for an anchored
            fit the anchor column. Other columns are ignored.
        source : str
            The table's name in messages (a file name).

        Raises
        ------
        InputError
            A needed column is missing or not numeric, a wave is missing or not a whole
            number, or two rows share a participant and wave.
        """
        series = self.parameters.series
        variable = series.variable
        needed = {series.participant: "participant", series.wave: "wave"}
        if series.axis == "time":
            needed["time"] = "time axis"
        needed[self.score_column] = f"score (trajectory variable '{variable}')"
        if series.anchor:
            needed[series.anchor["column"]] = "anchor"
        for column, role in needed.items():
            if column not in scores.columns:
                raise InputError(
                    f"{source}: no column '{column}' (the fit's {role} column); its columns are "
                    f"{', '.join(map(str, scores.columns))}"
                )
        from srflow.io import parse_numbers, participant_text

        table = scores[list(needed)].copy()
        table[series.participant] = participant_text(table[series.participant])
        for column in list(needed)[1:]:
            numbers, bad = parse_numbers(table[column])
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise InputError(
                    f"{source}: column '{column}' must be numeric; row {row + 1} holds "
                    f"{table[column].iloc[row]!r}"
                )
            table[column] = numbers
        wave = table[series.wave].to_numpy()
        unusable = ~np.isfinite(wave) | (wave != np.round(wave))
        if unusable.any():
            row = int(np.flatnonzero(unusable)[0])
            raise InputError(
                f"{source}: column '{series.wave}' must hold whole wave numbers; row {row + 1} "
                f"holds {scores[series.wave].iloc[row]!r}"
            )
        table[series.wave] = table[series.wave].astype("int64")
        table = table[table[series.participant].notna()]
        duplicated = table.duplicated([series.participant, series.wave])
        if duplicated.any():
            first = table[duplicated].iloc[0]
            raise InputError(
                f"{source}: {int(duplicated.sum())} row(s) repeat a participant and wave, e.g. "
                f"participant {first[series.participant]!r} at wave {first[series.wave]}"
            )
        spec = {"variable": variable, "time": series.axis, "anchor": series.anchor}
        sr_table = table if variable.startswith("sr:") else None
        data = trajectory_series(table, spec, sr_table=sr_table).data
        # participants left out of the series (nothing observed, no anchor) keep an empty row,
        # so they are reported as "no class" rather than silently dropped
        absent = np.setdiff1d(table[series.participant].unique(), data[series.participant])
        if absent.size:
            data = pd.concat([data, pd.DataFrame({series.participant: absent})], ignore_index=True)
        return data

    # --- classification -------------------------------------------------------------------
    def predict_proba(self, data: pd.DataFrame | PanelData) -> np.ndarray:
        """Posterior class probabilities ``(n_participants, K)`` of the participants in ``data``.

        Parameters
        ----------
        data : pandas.DataFrame or PanelData
            The series: one row per participant and wave with the columns :attr:`participant`,
            :attr:`time` and :attr:`outcome` (e.g. from :meth:`series_from_scores`); rows with
            a missing outcome or time drop out of the likelihood.

        Returns
        -------
        numpy.ndarray
            Rows in sorted participant order (:meth:`participants`); NaN rows for participants
            without an observed value.
        """
        ids = self.participants(data)
        posterior = np.full((ids.shape[0], self.n_classes), np.nan)
        observed, rows = self._observed_posterior(data)
        if observed is not None:
            posterior[pd.Index(ids).get_indexer(observed)] = rows
        missing = np.setdiff1d(ids, observed if observed is not None else [])
        self.notes = []
        if missing.size:
            shown = ", ".join(map(str, missing[:5])) + (", ..." if missing.size > 5 else "")
            why = " (or no anchor event)" if self.parameters.series.anchor else ""
            self.notes.append(
                f"{missing.size} participant(s) have no observed {self.outcome}{why} and get no "
                f"class: {shown}"
            )
        return posterior

    def predict(self, data: pd.DataFrame | PanelData) -> np.ndarray:
        """MAP class (1-based) per participant, 0 for a participant without observations."""
        posterior = self.predict_proba(data)
        known = np.isfinite(posterior).all(axis=1)
        return np.where(known, np.nan_to_num(posterior, nan=-1.0).argmax(axis=1) + 1, 0)

    def participants(self, data: pd.DataFrame | PanelData) -> np.ndarray:
        """Sorted participant labels of ``data``: the rows of :meth:`predict_proba`."""
        if isinstance(data, PanelData):
            return data.participants
        if self.participant not in data.columns:
            raise InputError(f"the series has no participant column '{self.participant}'")
        return np.asarray(pd.factorize(data[self.participant].dropna(), sort=True)[1])

    def posterior_table(self, data: pd.DataFrame | PanelData) -> pd.DataFrame:
        """``participant_id, class, label, post_1 .. post_K``, one row per participant.

        ``class`` and ``label`` are empty for a participant without observations.
        """
        posterior = self.predict_proba(data)
        known = np.isfinite(posterior).all(axis=1)
        classes = np.nan_to_num(posterior, nan=-1.0).argmax(axis=1)
        labels = np.asarray(self.labels_, dtype=object)[classes]
        table = pd.DataFrame(
            {
                "participant_id": self.participants(data).astype("str"),
                "class": pd.Series(classes + 1, dtype="Int64").where(known),
                "label": pd.Series(labels, dtype="string").where(known),
            }
        )
        for k in range(self.n_classes):
            table[f"post_{k + 1}"] = posterior[:, k]
        return table

    def _observed_posterior(self, data) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Posteriors of the participants with at least one observation (None: nobody)."""
        if self.method == "kmeans":
            if isinstance(data, PanelData):
                data = data.to_long()
            return self._nearest_centre(data)
        if isinstance(data, PanelData):
            panel = data
        else:
            try:
                panel = prepare_panel(data, self.participant, self.time, self.outcome)
            except ModelError:
                return None, None
        basis = self.parameters.basis
        stats = sufficient_stats(panel, basis.degree, domain=tuple(basis.domain))
        engine = self._engine(stats)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            _, posterior, _, _ = engine.e_step(self._mixture_params())
        return panel.participants, posterior[0].T if engine.class_major else posterior[0]

    def _engine(self, stats) -> LcgaEngine | GmmEngine:
        p = self.parameters
        shared = p.variance == "shared"
        if self.method == "gmm":
            return GmmEngine(
                stats, self.n_classes, shared, len(p.random), p.random_variance == "shared"
            )
        return LcgaEngine(stats, self.n_classes, shared)

    def _mixture_params(self) -> MixtureParams:
        """The stored estimates as one EM start (a leading axis of length 1)."""
        p = self.parameters
        return MixtureParams(
            weights=np.asarray(p.weights, dtype=float)[None],
            beta=np.asarray(p.coefficients, dtype=float)[None],
            sigma2=np.asarray(p.sigma2, dtype=float)[None],
            d=None if self.method != "gmm" else np.asarray(p.random_cov, dtype=float)[None],
        )

    def _nearest_centre(self, data: pd.DataFrame):
        try:
            values, ids, times = pivot_series(data, self.participant, self.time, self.outcome)
        except ModelError:
            return None, None
        grid = np.asarray(self.parameters.basis.grid, dtype=float)
        column = np.searchsorted(grid, times).clip(0, grid.size - 1)
        off_grid = grid[column] != times
        if off_grid.any():
            raise InputError(
                f"{self.time} value(s) {', '.join(f'{t:g}' for t in times[off_grid][:5])} are not "
                f"time points of the k-means fit ({', '.join(f'{t:g}' for t in grid)}); k-means "
                "compares series time point by time point"
            )
        on_grid = np.full((values.shape[0], grid.size), np.nan)
        on_grid[:, column] = values
        centres = np.asarray(self.parameters.centres, dtype=float)
        dist = _squared_distances(on_grid, np.isfinite(on_grid), centres)
        return ids, np.eye(self.n_classes)[dist.argmin(axis=1)]
