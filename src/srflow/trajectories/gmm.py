"""Growth mixture model: LCGA plus random effects within classes (see :mod:`.mixture`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from srflow.errors import ModelError
from srflow.trajectories.accelerate import run_squarem
from srflow.trajectories.em import MixtureParams, run_em
from srflow.trajectories.gmm_engine import DEFAULT_SPLIT, GmmEngine
from srflow.trajectories.mixture import LCGA, VARIANCE_CHOICES
from srflow.trajectories.nesting import at_random_intercept, at_zero_random_effects
from srflow.trajectories.panel import PanelData

__all__ = ["GMM", "RANDOM_CHOICES"]

RANDOM_CHOICES = (("intercept",), ("intercept", "slope"))
#: ranges of the random shares of the residual variance given to the intercept and the slope
_SPLIT_RANGES = ((0.05, 0.85), (0.01, 0.4))


class GMM(LCGA):
    """Growth mixture model: class polynomials plus a random intercept (and slope).

    The marginal likelihood of participant ``i`` in class ``k`` is Gaussian with covariance
    ``sigma_k^2 I + Z_i D_k Z_i'`` (:mod:`srflow.trajectories.gmm_engine`), on each
    participant's own observed waves.

    Parameters
    ----------
    n_classes, degree, variance, n_init, n_short_iter, n_final_starts, tol, random_state
        As in :class:`LCGA` (``variance`` is the residual variance).
    random : sequence of str, default ("intercept",)
        ``("intercept",)`` or ``("intercept", "slope")`` (slope on linear time, full 2 x 2
        covariance).
    random_variance : {"class", "shared"}, default "shared"
        Random-effect covariance per class or one shared by all classes.
    max_iter : int, default 5000
        Budget of the final stage in EM-step equivalents.
    accelerate : bool, default True
        SQUAREM-accelerated EM in the final stage (plain EM otherwise).

    Attributes
    ----------
    random_cov_ : ndarray (K, q, q)
        Random-effect covariance per class (equal for a shared one), in the internal time
        scale (time mapped to [-1, 1] over the observed range); the intercept variance is
        on the outcome scale at the mid-point of that range.
    nested_logliks_ : dict
        Log-likelihoods of the nested models whose optima seeded this fit (``"lcga"``,
        ``"variance=shared"``, ``"random_variance=shared"``, ``"random=intercept"``); the fit
        is at least each, up to :func:`srflow.trajectories.nesting.nesting_tolerance`.
    below_nested_models_ : list of str
        The keys of ``nested_logliks_`` this fit is below (a fit to report as suspect);
        ``below_nested_`` is whether there is any.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> n = 200
    >>> level = np.repeat([2.0, 10.0], n // 2) + rng.normal(0, 1.5, n)
    >>> data = pd.DataFrame({"participant_id": np.repeat(np.arange(n), 5),
    ...                      "time": np.tile(np.arange(5.0), n),
    ...                      "P": np.repeat(level, 5) + rng.normal(0, 1, 5 * n)})
    >>> model = GMM(2, degree=1, n_init=5, random_state=0).fit(data)
    >>> bool(abs(np.sqrt(model.random_cov_[0, 0, 0]) - 1.5) < 0.3)
    True
    >>> model.loglik_ >= model.nested_logliks_["lcga"]
    True
    """

    def __init__(
        self,
        n_classes: int,
        degree: int = 2,
        variance: str = "class",
        random: Sequence[str] = ("intercept",),
        random_variance: str = "shared",
        n_init: int = 50,
        n_short_iter: int = 25,
        n_final_starts: int | None = None,
        max_iter: int = 5000,
        tol: float = 1e-8,
        random_state: int | None = None,
        accelerate: bool = True,
    ):
        super().__init__(
            n_classes=n_classes,
            degree=degree,
            variance=variance,
            n_init=n_init,
            n_short_iter=n_short_iter,
            n_final_starts=n_final_starts,
            max_iter=max_iter,
            tol=tol,
            random_state=random_state,
        )
        self.random = random
        self.random_variance = random_variance
        self.accelerate = accelerate

    @property
    def _n_random(self) -> int:  # type: ignore[override]
        return len(tuple(self.random))

    def _check_params(self) -> None:
        super()._check_params()
        if tuple(self.random) not in RANDOM_CHOICES:
            raise ModelError(
                f"random must be [intercept] or [intercept, slope], got {list(self.random)}; "
                "without random effects use LCGA."
            )
        if self.random_variance not in VARIANCE_CHOICES:
            raise ModelError(
                f"random_variance must be 'class' or 'shared', got {self.random_variance!r}."
            )
        if self._n_random == 2 and self.degree < 1:
            raise ModelError("a random slope needs degree >= 1.")

    def _engine(self, stats) -> GmmEngine:
        return GmmEngine(
            stats,
            self.n_classes,
            self.variance == "shared",
            self._n_random,
            self.random_variance == "shared",
        )

    def _initial_params(self, engine, posterior: np.ndarray, rng) -> MixtureParams:
        """M-step from posteriors (S, n, K); starts after the first draw their variance split."""
        split = np.tile(np.asarray(DEFAULT_SPLIT, dtype=float), (posterior.shape[0], 1))
        if rng is not None and posterior.shape[0] > 1:
            for j, (lo, hi) in enumerate(_SPLIT_RANGES):
                split[1:, j] = rng.uniform(lo, hi, size=posterior.shape[0] - 1)
        return engine.m_step(posterior, init=True, split=split)

    def _from_posterior(self, engine, posterior: np.ndarray) -> MixtureParams:
        return engine.m_step(posterior[None], init=True)

    def _converge(self, engine, params: MixtureParams):
        if self.accelerate:
            return run_squarem(engine, params, self.max_iter, self.tol)
        return run_em(engine, params, self.max_iter, self.tol)

    def _count_params(self) -> int:
        q = self._n_random
        n_cov = (self.n_classes if self.random_variance == "class" else 1) * q * (q + 1) // 2
        return super()._count_params() + n_cov

    # --- seeded starts: nested models' optima ---------------------------------------------
    def _seeded_starts(self, panel: PanelData, stats, engine, init_from) -> list[MixtureParams]:
        cache: dict = getattr(self, "_nested_cache", {})
        self.nested_logliks_ = {}
        lcga = cache.get(("lcga", self.variance))
        if lcga is None:
            lcga = LCGA(
                self.n_classes,
                degree=self.degree,
                variance=self.variance,
                n_init=self.n_init,
                random_state=self.random_state,
            )
            lcga._nested_cache = cache  # a class-specific LCGA is seeded from the shared one
            cache[("lcga", self.variance)] = lcga.fit(panel)
        self.nested_logliks_["lcga"] = lcga.loglik_
        # the LCGA optimum is the GMM with D = 0: start at it (D at its floor, so the fit is
        # never below the LCGA) and inside it, with two variance splits
        starts = [at_zero_random_effects(lcga.params_, engine)]
        starts.append(self._from_posterior(engine, lcga.posterior_))
        starts.append(
            engine.m_step(lcga.posterior_[None], init=True, split=np.array([[0.15, 0.02]]))
        )
        for random, variance, random_variance in self._nested_specs():
            nested = self._nested_fit(panel, cache, random, variance, random_variance)
            self.nested_logliks_[_nested_name(self, random, variance)] = nested.loglik_
            if len(random) == self._n_random:
                starts.append(nested.params_)
            else:  # the random-intercept optimum with the slope variance ~0 and inside it
                starts.append(at_random_intercept(nested.params_, engine))
        if init_from is not None:
            starts += self._k_minus_1_starts(engine, init_from, stats)
        return starts

    def _nested_specs(self) -> list[tuple[tuple[str, ...], str, str]]:
        """(random, variance, random_variance) of the models nested in this one.

        Sharing a variance block (K >= 2), or dropping the random slope (any K).
        """
        random = tuple(self.random)
        specs = []
        if self.n_classes > 1 and self.variance == "class":
            specs.append((random, "shared", self.random_variance))
        if self.n_classes > 1 and self.random_variance == "class":
            specs.append((random, self.variance, "shared"))
        if self._n_random == 2:
            specs.append((("intercept",), self.variance, self.random_variance))
        return specs

    def _nested_fit(self, panel, cache: dict, random, variance: str, random_variance: str) -> GMM:
        """A nested model's fit, shared through ``cache`` by every model of one fit."""
        key = (random, variance, random_variance)
        if key not in cache:
            nested = GMM(
                self.n_classes,
                degree=self.degree,
                variance=variance,
                random=random,
                random_variance=random_variance,
                n_init=self.n_init,
                n_short_iter=self.n_short_iter,
                n_final_starts=self.n_final_starts,
                max_iter=self.max_iter,
                tol=self.tol,
                random_state=self.random_state,
                accelerate=self.accelerate,
            )
            nested._nested_cache = cache
            cache[key] = nested.fit(panel)
        return cache[key]


def _nested_name(model: GMM, random: tuple[str, ...], variance: str) -> str:
    """Key of a nested model in ``nested_logliks_``: the setting it changes."""
    if len(random) != model._n_random:
        return "random=intercept"
    if variance != model.variance:
        return f"variance={variance}"
    return "random_variance=shared"
