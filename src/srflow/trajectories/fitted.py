"""What a fitted LCGA or GMM tells: posteriors of new data, class curves, a summary, simulations.

:class:`FittedMixture` is the base of :class:`srflow.trajectories.mixture.LCGA` (and so of the
GMM): its methods read the fitted attributes (``params_``, ``coef_legendre_``, ``panel_``,
``time_domain_``, ...) and the model's ``_engine``; fitting itself is in :mod:`.mixture`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from srflow.trajectories.panel import PanelData, legendre_basis, prepare_panel, sufficient_stats

__all__ = ["FittedMixture"]


class FittedMixture:
    """Results of a fitted mixture model (mixed into :class:`srflow.trajectories.mixture.LCGA`)."""

    def predict_proba(self, data: pd.DataFrame | PanelData | None = None, **columns) -> np.ndarray:
        """Posterior class probabilities, of the fitted participants or of new ones.

        Parameters
        ----------
        data : pandas.DataFrame, PanelData or None
            None: the fitted participants (``posterior_``). Otherwise a long table (column
            names as keyword arguments ``participant``, ``time``, ``outcome``, defaults those
            of the fitted panel); time is mapped with the fitted range, so new participants
            are scored on the fitted model's scale.

        Returns
        -------
        numpy.ndarray
            ``(n_participants, K)``, rows in sorted participant order.
        """
        if data is None:
            return self.posterior_
        names = {
            "participant": self.panel_.participant,
            "time": self.panel_.time_column,
            "outcome": self.panel_.outcome_column,
            **columns,
        }
        panel = data if isinstance(data, PanelData) else prepare_panel(data, **names)
        stats = sufficient_stats(panel, self.degree, domain=self.time_domain_)
        engine = self._engine(stats)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            _, posterior, _, _ = engine.e_step(self.params_)
        return posterior[0].T if engine.class_major else posterior[0]

    def predict(self, data: pd.DataFrame | PanelData | None = None, **columns) -> np.ndarray:
        """MAP class (1-based) of the fitted participants or of new ones (see :meth:`predict_proba`)."""
        return self.predict_proba(data, **columns).argmax(axis=1) + 1

    def predict_curves(self, times: np.ndarray) -> np.ndarray:
        """Fitted class means at ``times``, shape ``(K, len(times))``."""
        times = np.asarray(times, dtype=float)
        basis = legendre_basis(times, self.degree, self.time_domain_)
        return self.coef_legendre_ @ basis.T

    @property
    def summary(self) -> pd.DataFrame:
        """One row per class: share, MAP size, raw-time coefficients, residual SD."""
        counts = np.bincount(self.labels_ - 1, minlength=self.n_classes)
        table = pd.DataFrame(
            {"class": np.arange(1, self.n_classes + 1), "weight": self.weights_, "n_map": counts}
        )
        for j in range(self.degree + 1):
            table[f"coef_time{j}"] = self.coef_[:, j]
        table["sigma"] = self.sigma_
        if self.random_cov_ is not None:
            table["sd_random_intercept"] = np.sqrt(self.random_cov_[:, 0, 0])
            if self.random_cov_.shape[1] == 2:
                table["sd_random_slope_legendre"] = np.sqrt(self.random_cov_[:, 1, 1])
        return table

    def simulate(self, rng: np.random.Generator) -> pd.DataFrame:
        """Draw a data set from the fitted model at the observed design.

        Each participant keeps their observed times; the class is drawn from
        ``weights_``, then outcomes from the class's mean curve plus residual
        noise (and random effects for the GMM).

        Parameters
        ----------
        rng : numpy.random.Generator

        Returns
        -------
        pandas.DataFrame
            Long table with the fitted panel's column names.
        """
        panel = self.panel_
        n, width = panel.time.shape
        classes = rng.choice(self.n_classes, size=n, p=self.weights_ / self.weights_.sum())
        basis = legendre_basis(panel.time, self.degree, self.time_domain_)  # (n, T, p)
        mean = np.einsum("ntp,np->nt", basis, self.coef_legendre_[classes])
        noise = rng.standard_normal((n, width)) * self.sigma_[classes][:, None]
        values = mean + noise
        if self.random_cov_ is not None:
            q = self.random_cov_.shape[1]
            chol = np.linalg.cholesky(self.random_cov_)  # (K, q, q)
            effects = np.einsum("nab,nb->na", chol[classes], rng.standard_normal((n, q)))
            values = values + np.einsum("ntq,nq->nt", basis[..., :q], effects)
        return panel.to_long(values)
