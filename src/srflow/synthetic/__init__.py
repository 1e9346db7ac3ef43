"""Synthetic longitudinal cohorts with known ground truth, plus messy file variants.

The simulator produces data shaped like a resilience study: a GHQ-12-like
problems questionnaire (P), two stressor instruments (daily hassles and life
events, together E), covariates, dropout and missing answers. Because every
latent quantity is known, the rest of srflow (ingest, validation, scoring,
SR scores, mixed models, trajectory models) can be tested against the truth.

Latent model
------------
Per participant *i* (all drawn once):

* trajectory class ``c_i`` in resilient / recovery / chronic / delayed with
  shares 55 / 15 / 12 / 18 %. Each class has a curve ``f_c(tau)`` of the latent
  problem level on the 0..36 GHQ-sum scale, where ``tau = (wave - 1) / (T - 1)``
  runs from 0 at the first to 1 at the last wave:
  resilient ``8`` (low, stable); recovery ``8 + 14 (1 - tau)^1.5`` (high, then
  falling); chronic ``22`` (high, stable); delayed ``8 + 14 tau^1.5`` (low, then
  rising);
* person baseline offset ``baseline_i ~ N(0, 2)`` (GHQ-sum points);
* stressor reactivity ``b_i ~ N(0.5, 0.2)``: extra problem points per point of
  stressor severity (the true random E slope);
* background hassle level ``h_i ~ Gamma(shape 6, scale 2)`` (mean 12 severity
  points per wave).

Per wave *t*:

* life events: each of the 20 minor events ``LE_06..LE_25`` happens with
  probability ``minor_event_rate / 20`` (severity 1-4); each of the 5 major
  events ``LE_01..LE_05`` with probability ``major_event_rate / 5`` (severity
  3-5). ``E_life`` is their severity sum (observed exactly by the LE items);
* hassle level ``H_it = max(0, h_i + N(0, 5.5) + 6 * [major event at t])``
  (a major event brings extra daily hassles);
* ``E_latent = H_it + E_life``;
* ``P_latent = clip(f_c(tau_t) + baseline_i + b_i (E_latent - E_mean) + N(0, 1), 0, 36)``
  where ``E_mean`` is the expected E under the simulation settings (a constant).

Resilience factors
------------------
Three baseline traits (T-scores, mean 50, SD 10, constant within a participant) are built
from the standardised reactivity and baseline offset plus noise, from a separate child
stream of the seed (every other column is as without them): ``optimism`` (lower reactivity,
fewer problems), ``neuroticism`` (more problems) and ``openness`` (no effect). Their exact
effects (population regression coefficients of the latent values on the traits) are in
:mod:`srflow.synthetic.traits` and ``truth_effects.json``.

Item responses
--------------
* GHQ items (0-3, problem direction): ``clip(round(P_latent / 12 + d_j + N(0, 0.5)), 0, 3)``
  with small fixed item offsets ``d_j`` (summing to 0). Positively worded items
  GHQ_01, 03, 04, 07, 08, 12 are then stored raw, i.e. as ``3 - value`` (higher =
  better); scoring must reverse them.
* Daily hassles GE_01..GE_11 (0-5, 0 = did not happen):
  ``clip(round(H_it * w_j + N(0, 0.6)), 0, 5)`` with fixed weights ``w_j`` summing
  to 1, so their sum tracks ``H_it``.
* Extra items ``Q_001..`` (optional, 1-5 Likert) load weakly on ``P_latent``.

Missing data
------------
* monotone dropout after wave 1: hazard ``dropout * (0.5 + P_latent(t-1) / 20)``
  per wave (missing at random given the previous problem level);
* whole GHQ questionnaire blank in ``missing_questionnaire_rate`` of rows (the P
  score must then be missing, not 0);
* 1-2 GHQ items blank in ``partial_problem_rate`` of the other rows (prorating);
* every item cell blank at random with probability ``missing_item_rate``.

Files
-----
:func:`write_cohort` writes ``cohort.csv`` (long), ``truth.csv`` and messy
variants (wide CSV, SPSS, Stata, Excel, Parquet, a faulty CSV with a fault list,
and an R-style export); see ``data/synthetic/README.md``. All of them are
byte-identical across runs with the same arguments (timestamps that the SPSS
and Excel writers embed are fixed afterwards).
"""

from srflow.synthetic.design import (
    CLASS_SHARES,
    GENERAL_ITEMS,
    LIFE_ITEMS,
    MAJOR_LIFE_ITEMS,
    POSITIVE_ITEMS,
    PROBLEM_ITEMS,
    TRAJECTORY_CLASSES,
    class_curve,
)
from srflow.synthetic.files import effects_document, write_cohort
from srflow.synthetic.simulate import simulate_cohort
from srflow.synthetic.traits import TRAITS, trait_effects

__all__ = [
    "TRAJECTORY_CLASSES",
    "CLASS_SHARES",
    "PROBLEM_ITEMS",
    "POSITIVE_ITEMS",
    "GENERAL_ITEMS",
    "LIFE_ITEMS",
    "MAJOR_LIFE_ITEMS",
    "TRAITS",
    "class_curve",
    "effects_document",
    "simulate_cohort",
    "trait_effects",
    "write_cohort",
]
