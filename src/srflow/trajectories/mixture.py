"""Latent class growth analysis (LCGA) and growth mixture models (GMM): the estimators.

Model
-----
Each of ``K`` latent classes has its own polynomial in time (degree 0..3). A participant's
waves all belong to one class, so the likelihood of participant ``i`` is the mixture

    L_i = sum_k pi_k * N(y_i | X_i beta_k, V_ik),

where ``y_i`` holds the participant's observed outcomes only (missing waves are absent from the
likelihood: missing at random), ``X_i`` the time polynomial at the participant's own times and

* LCGA: ``V_ik = sigma_k^2 I`` (class-specific) or ``sigma^2 I`` (shared);
* GMM:  ``V_ik = sigma_k^2 I + Z_i D_k Z_i'`` with a random intercept (``Z = 1``) and optionally
  a random slope (``Z = [1, time]``); ``D_k`` per class or one ``D`` shared by all classes.

Starts (emEM, as in lcmm's ``gridsearch`` and Mplus' ``STARTS``): ``n_init`` random partitions
of the participants (for the GMM each with its own random split of the variance between the
random effects and the noise) are each run for ``n_short_iter`` EM iterations; the
``n_final_starts`` best are run to convergence and the best log-likelihood is kept.
``n_starts_at_best_`` counts the final-stage runs that reached it (a check on local maxima).
The GMM adds seeded final-stage runs: from the LCGA optimum (a GMM with ``D -> 0``), from the
optimum of the model with shared variances nested in a class-specific one, from the
random-intercept optimum nested in a random intercept and slope (:mod:`.nesting`), and (``init_from``)
from splits of the classes of a K - 1 solution, so a richer model starts where the poorer one
ended; it converges by SQUAREM-accelerated EM (:mod:`srflow.trajectories.accelerate`).

Classes are put in a canonical order (by mean fitted level over the observed time range, then
by average slope), so labels do not depend on the start that won. Reported coefficients
(``coef_``) are on the raw time scale, ``coef_[k, j]`` multiplying ``time**j``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from srflow.errors import ConvergenceWarning, ModelError
from srflow.trajectories.em import LcgaEngine, MixtureParams, run_em
from srflow.trajectories.fitted import FittedMixture
from srflow.trajectories.nesting import (
    below_nested,
    duplicate_class,
    one_hot,
    split_class,
    stack_params,
)
from srflow.trajectories.panel import (
    PanelData,
    check_fittable,
    legendre_to_raw,
    prepare_panel,
    sufficient_stats,
)

__all__ = ["LCGA", "VARIANCE_CHOICES"]

VARIANCE_CHOICES = ("class", "shared")


class LCGA(FittedMixture):
    """Latent class growth analysis fitted by EM with emEM random starts.

    Parameters
    ----------
    n_classes : int
        Number of latent classes K.
    degree : int, default 2
        Polynomial degree in time (0..3).
    variance : {"class", "shared"}, default "class"
        Class-specific residual variance or one shared across classes.
    n_init : int, default 50
        Random starts (random partitions of participants) for the short stage.
    n_short_iter : int, default 25
        EM iterations per start in the short stage.
    n_final_starts : int or None, default None
        Starts carried to convergence; None = ``max(2, n_init // 5)``.
    max_iter : int, default 2000
        Maximum EM iterations in the final stage.
    tol : float, default 1e-8
        Convergence: ``|delta loglik| <= tol * (1 + |loglik|)`` between EM iterations.
    random_state : int or None, default None
        Seed of ``numpy.random.default_rng``.

    Attributes
    ----------
    coef_ : ndarray (K, degree + 1)
        Class polynomials on the raw time scale, ``coef_[k, j]`` multiplies ``time**j``.
    sigma_ : ndarray (K,)
        Residual SD per class (equal entries for shared variance).
    weights_ : ndarray (K,)
        Mixing proportions.
    loglik_ : float
        Maximised log-likelihood.
    n_params_ : int
        Free parameters: ``K (degree + 1) + (K or 1) + (K - 1)`` [+ random-effect
        (co)variances for the GMM].
    posterior_ : ndarray (n_participants, K)
        Posterior class probabilities (also :meth:`predict_proba` without data).
    labels_ : ndarray (n_participants,)
        MAP class, 1-based, in canonical order.
    participants_ : ndarray
        Participant labels, aligned with ``posterior_``.
    converged_, n_iter_ : bool, int
        Convergence of the best run.
    n_starts_at_best_ : int
        Final-stage runs within ``max(1e-3, 1e-8 |loglik|)`` of the best log-likelihood.
    final_logliks_ : ndarray
        Log-likelihoods of all final-stage runs, best first.
    nested_logliks_ : dict
        Log-likelihoods of the nested models whose optima seeded this fit (LCGA with
        class-specific variance: ``"variance=shared"``); ``below_nested_models_`` lists those
        the fit is still below (:func:`srflow.trajectories.nesting.below_nested`: suspect).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> level = np.repeat([2.0, 10.0], 50)
    >>> data = pd.DataFrame({"participant_id": np.repeat(np.arange(100), 4),
    ...                      "time": np.tile(np.arange(4.0), 100),
    ...                      "P": np.repeat(level, 4) + rng.normal(0, 1, 400)})
    >>> model = LCGA(2, degree=1, n_init=5, random_state=0).fit(data)
    >>> np.bincount(model.labels_).tolist()
    [0, 50, 50]
    >>> bool(np.allclose(model.coef_[:, 0], [2, 10], atol=0.3))
    True
    """

    _n_random = 0

    def __init__(
        self,
        n_classes: int,
        degree: int = 2,
        variance: str = "class",
        n_init: int = 50,
        n_short_iter: int = 25,
        n_final_starts: int | None = None,
        max_iter: int = 2000,
        tol: float = 1e-8,
        random_state: int | None = None,
    ):
        self.n_classes = n_classes
        self.degree = degree
        self.variance = variance
        self.n_init = n_init
        self.n_short_iter = n_short_iter
        self.n_final_starts = n_final_starts
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    # --- hooks the GMM overrides ----------------------------------------------------------
    def _check_params(self) -> None:
        if self.variance not in VARIANCE_CHOICES:
            raise ModelError(f"variance must be 'class' or 'shared', got {self.variance!r}.")

    def _engine(self, stats):
        return LcgaEngine(stats, self.n_classes, self.variance == "shared")

    def _initial_params(self, engine, posterior: np.ndarray, rng) -> MixtureParams:
        # LCGA posteriors are class-major (S, K, n)
        return engine.m_step(np.ascontiguousarray(posterior.transpose(0, 2, 1)), init=True)

    def _seeded_starts(self, panel, stats, engine, init_from) -> list[MixtureParams]:
        starts = []
        if self.variance == "class" and self.n_classes > 1:  # nests the shared variance
            shared = self._shared_variance_fit(panel)
            self.nested_logliks_["variance=shared"] = shared.loglik_
            starts.append(shared.params_)
        if init_from is not None:
            starts += self._k_minus_1_starts(engine, init_from, stats)
        return starts

    def _shared_variance_fit(self, panel) -> LCGA:
        """The LCGA with one shared residual variance, shared through a nesting model's cache."""
        cache: dict = getattr(self, "_nested_cache", {})
        if ("lcga", "shared") not in cache:
            names = ("degree", "n_init", "n_short_iter", "n_final_starts", "max_iter", "tol")
            settings = {name: getattr(self, name) for name in names}
            cache[("lcga", "shared")] = LCGA(
                self.n_classes, variance="shared", random_state=self.random_state, **settings
            ).fit(panel)
        return cache[("lcga", "shared")]

    def _k_minus_1_starts(self, engine, init_from, stats) -> list[MixtureParams]:
        """Starts from a K - 1 optimum: its classes split in turn, and its largest doubled.

        The doubled class (two identical halves) is the K - 1 optimum itself as a K-class
        model, so the K fit is never below it; the splits move away from it.
        """
        starts = [self._from_posterior(engine, p) for p in self._splits(init_from, stats)]
        largest = int(np.argsort(-np.asarray(init_from.weights_), kind="stable")[0])
        return [*starts, duplicate_class(init_from.params_, largest)]

    def _from_posterior(self, engine, posterior: np.ndarray) -> MixtureParams:
        return self._initial_params(engine, posterior[None], None)

    def _splits(self, init_from, stats) -> list[np.ndarray]:
        """Posteriors splitting each class of a K - 1 model in turn (largest classes first)."""
        if init_from.n_classes != self.n_classes - 1:
            raise ModelError(
                f"init_from must have {self.n_classes - 1} classes, it has {init_from.n_classes}."
            )
        order = np.argsort(-np.asarray(init_from.weights_), kind="stable")[:5]
        return [split_class(init_from, stats, int(j)) for j in order]

    def _converge(self, engine, params: MixtureParams):
        return run_em(engine, params, self.max_iter, self.tol)

    # --- fitting ---------------------------------------------------------------------
    def fit(
        self,
        data: pd.DataFrame | PanelData,
        participant: str = "participant_id",
        time: str = "time",
        outcome: str = "P",
        init_from: LCGA | None = None,
    ) -> LCGA:
        """Fit the model to a long table (or a prepared :class:`PanelData`).

        Parameters
        ----------
        data : pandas.DataFrame or PanelData
            Long table with participant, time and outcome columns; rows with a
            missing outcome are dropped.
        participant, time, outcome : str
            Column names.
        init_from : LCGA or GMM, optional
            A fitted model of the same kind with K - 1 classes on the same data: its classes
            split in turn, and its largest class doubled, give extra final-stage starts, so the
            K solution starts where the K - 1 one ended and is never below it.

        Returns
        -------
        self

        Raises
        ------
        ModelError
            Too few participants for K classes, too few distinct times for the
            degree, or no variation in the outcome.
        """
        self._check_params()
        panel = (
            data if isinstance(data, PanelData) else prepare_panel(data, participant, time, outcome)
        )
        check_fittable(panel, self.n_classes, self.degree)
        stats = sufficient_stats(panel, self.degree)
        engine = self._engine(stats)
        rng = np.random.default_rng(self.random_state)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            params, short_iter = self._short_stage(engine, panel.n_participants, rng)
            self.nested_logliks_: dict[str, float] = {}
            seeded = self._seeded_starts(panel, stats, engine, init_from)
            for extra in seeded:
                params = stack_params(params, extra)
            n_seeded = sum(extra.weights.shape[0] for extra in seeded)
            short_iter = np.concatenate((short_iter, np.zeros(n_seeded, dtype=int)))
            params, loglik, n_iter, converged, worst_drop = self._converge(engine, params)
        loglik = np.where(np.isfinite(loglik), loglik, -np.inf)
        best = int(np.lexsort((np.arange(loglik.shape[0]), -loglik))[0])
        if not np.isfinite(loglik[best]):
            raise ModelError(
                f"EM produced no finite log-likelihood for K = {self.n_classes}; "
                "the data may be degenerate."
            )
        best_ll = float(loglik[best])
        close = max(1e-3, 1e-8 * abs(best_ll))
        self.n_starts_at_best_ = int(np.sum(loglik >= best_ll - close))
        self.final_logliks_ = np.sort(loglik)[::-1]
        self.n_final_starts_ = int(loglik.shape[0])
        self.max_loglik_decrease_ = float(worst_drop[best])
        self.n_seeded_starts_ = n_seeded
        self.best_start_seeded_ = bool(best >= loglik.shape[0] - n_seeded)
        self._finish(
            panel,
            stats,
            engine,
            params.take(np.array([best])),
            best_ll,
            bool(converged[best]),
            int(n_iter[best] + short_iter[best]),
        )
        self.below_nested_models_ = below_nested(self.loglik_, self.nested_logliks_)
        self.below_nested_ = bool(self.below_nested_models_)
        if not self.converged_:
            warnings.warn(
                f"{type(self).__name__} with K = {self.n_classes} did not converge in "
                f"{self.max_iter} EM iterations; raise max_iter or loosen tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _short_stage(self, engine, n: int, rng) -> tuple[MixtureParams, np.ndarray]:
        """Random partitions run briefly; the best ``n_final_starts`` go on (emEM)."""
        k = self.n_classes
        n_starts = max(1, int(self.n_init)) if k > 1 else 1
        n_final = self.n_final_starts if self.n_final_starts is not None else max(2, n_starts // 5)
        n_final = int(min(max(1, n_final), n_starts))
        # random partitions: each participant to a uniformly drawn class
        posterior = one_hot(rng.integers(0, k, size=(n_starts, n)), k)
        params = self._initial_params(engine, posterior, rng)
        short_iter = np.zeros(n_starts, dtype=int)
        if k > 1 and n_final < n_starts:
            params, ll_short, short_iter, *_ = run_em(engine, params, self.n_short_iter, self.tol)
            # best first; ties broken by start index so the choice is deterministic
            ll_short = np.where(np.isfinite(ll_short), ll_short, -np.inf)
            chosen = np.lexsort((np.arange(n_starts), -ll_short))[:n_final]
            params = params.take(chosen)
            short_iter = short_iter[chosen]
        return params, short_iter

    def _finish(self, panel, stats, engine, params, loglik, converged, n_iter) -> None:
        p = self.degree + 1
        beta = params.beta[0]
        lo, hi = stats.domain
        span = hi - lo if hi > lo else 2.0
        # mean level over [lo, hi] is the Legendre constant term; average slope uses P_j(+-1) = (+-1)^j
        level = beta[:, 0]
        odd = np.array([(1.0 - (-1.0) ** j) for j in range(p)])
        slope = (beta * odd).sum(axis=1) / span
        order = np.lexsort((np.round(slope, 12), np.round(level, 10)))
        params = params.reorder_classes(order)
        _, posterior, _, loglik_i = engine.e_step(params)
        if engine.class_major:
            posterior = posterior.transpose(0, 2, 1)
        self.params_ = params
        self.loglik_ = float(loglik)
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.weights_ = params.weights[0].copy()
        self.coef_legendre_ = params.beta[0].copy()
        self.coef_ = self.coef_legendre_ @ legendre_to_raw(self.degree, stats.domain).T
        self.sigma_ = np.sqrt(params.sigma2[0])
        self.random_cov_ = None if params.d is None else params.d[0].copy()
        self.posterior_ = posterior[0]
        self.labels_ = self.posterior_.argmax(axis=1) + 1
        self.participants_ = panel.participants
        self.loglik_participant_ = loglik_i[0]
        self.time_domain_ = stats.domain
        self.panel_ = panel
        self.n_params_ = self._count_params()
        self.sigma2_floor_ = engine.sigma2_floor
        self.outcome_sd_ = math.sqrt(stats.outcome_var)

    def _count_params(self) -> int:
        k, p = self.n_classes, self.degree + 1
        n_var = k if self.variance == "class" else 1
        return int(k * p + n_var + (k - 1))
