"""Stressor-reactivity (SR) resilience scores.

The normative relation between stressor exposure ``E`` and mental-health problems ``P``
is fitted across the sample (the *line*); a unit's SR is its residual from that line::

    sr = P - P_expected      higher = more problems than expected = less resilient

The unit depends on the spec's ``level``:

``wave``
    One ordinary-least-squares (OLS) line per wave; one SR per (participant, wave).
``period``
    Per participant, the mean P and the mean E over the waves of the period (the
    spec's ``waves``, default all) at which both were observed; participants with at
    least ``min_waves`` such waves enter. One line across participants, fitted on ONE
    ROW PER PERSON; one SR per participant.
``multilevel``
    ``P ~ E`` with a random intercept and a random E slope per participant
    (:func:`srflow.mixed.fit_lmm`, REML); ``P_expected`` from the fixed effects only;
    one SR per observation.
``sliding``
    Windows of ``window`` consecutive waves (first..first+window-1, then shifted by
    one). Per (participant, window) the means of P and E over the waves of the window
    with both observed; a participant enters a window with at least ``min_in_window``
    such waves. One line per window; the window is named by its first wave.
``change``
    ``dP = P_t - P_(t-1)`` between consecutive waves (wave numbers differing by exactly
    one) regressed on ``E_t``, the exposure reported at the end of the interval,
    optionally with ``P_(t-1)`` as a covariate (``adjust_previous``). One line over all
    intervals; one SR per interval. In the table ``P`` is ``P_t`` and
    ``P_expected = P_(t-1) + expected change``, so ``sr = P - P_expected`` still holds.
    A participant contributes several intervals, so the line's SEs and 95% CIs are
    cluster-robust by participant (CR1, as statsmodels' ``cov_type="cluster"``; CI from
    the t distribution with G - 1 df, G = participants in the fit); the conventional SE
    is kept as ``se_naive``. With ``huber`` the robust fit's own (non-clustered) SEs
    are reported.

Forms: ``linear``; ``quadratic`` (E and E squared; E is centred at the fitting mean
before squaring for numerical stability, and the coefficients are reported both on the
raw E scale and centred); ``auto`` (both fitted by maximum likelihood; likelihood-ratio
test ``2 (ll_quadratic - ll_linear)``; quadratic is used when p < alpha). For levels with
several lines (wave, sliding) the test pools the per-line statistics (their sum, with one
degree of freedom per line) so every line of a spec has the same form.

Outliers: the line is fitted on cleaned data and then applied to everyone's UNALTERED
values, so nobody's score is censored. ``winsorize`` clips every variable of the line
(P, E, and for ``change`` the change score and, with ``adjust_previous``, the previous P)
at mean +/- k SD of the fitting sample; ``exclude`` drops fitting units with
``|z| >= k`` on any of these variables; ``mahalanobis`` drops fitting units whose joint
squared Mahalanobis distance has a chi-square upper-tail p <= 0.001 (df = number of
variables, 2 for (E, P)); ``huber`` fits a Huber M-estimator (statsmodels ``RLM`` with
``HuberT``, MAD scale; not available for ``multilevel``, which has no robust mixed model).
Cleaning is done per line (per wave, per window). With ``huber`` the form test is a Wald
test of the squared term with robust SEs (a robust fit has no Gaussian likelihood).

Reference: ``all``; ``{waves: [...]}`` fits on the units of those waves (for level
``wave`` this gives ONE pooled line over the reference waves, applied to every wave; for
``change`` an interval belongs to the wave it ends in); ``{column, value}`` fits on the
rows where ``column == value`` (e.g. a control arm). For the aggregated levels (period,
sliding) the reference selects participants by their rows: a participant belongs to it
when at least one of their rows meets the condition (for ``{waves}``: has P and E
observed at one of those waves).

``sr_z`` is the z-score of ``sr`` (mean 0, SD 1 with ddof = 1, as R's ``sd``), set by the
spec's ``standardize``: ``line`` (default) z-scores within each normative line, i.e. per
wave (level wave) and per window (level sliding), as the authors' recipe does, so a unit's
``sr_z`` compares it with the others scored against the same line; ``pooled`` z-scores over
all scored units of the spec at once, so differences between lines survive (a window in
which SR spreads more keeps larger scores). Levels with a single line (period,
multilevel, change, and wave with ``reference: {waves}``) give identical numbers either
way. The line JSON says which (``standardize``, and the formula under ``sr_z``).

Only units with the needed values observed are scored: a wave whose questionnaire is
entirely missing (P NaN) gets no SR; it is counted under ``excluded.missing``.

A spec is an :class:`~srflow.config.SRSpec` (built by :func:`srflow.config.sr_spec` from a
config entry, with the schema's defaults); the entry points also take the plain mapping.

Modules: ``compute`` (entry points), ``result`` (table and line JSON), ``frame`` and
``units`` (the scored units of each level), ``ols`` (many OLS lines at once), ``outliers``,
``forms`` and ``form_test`` (fitting and choosing the form), ``ols_level`` and
``multilevel`` (the two kinds of line).

Examples
--------
>>> from srflow.synthetic import simulate_cohort
>>> data, truth = simulate_cohort(200, 3, seed=1, items=False)
>>> scores = truth[["participant_id", "wave"]].assign(P=truth["P_latent"], E=truth["E_latent"])
>>> result = compute_sr(scores, {"level": "wave"}, "per_wave")
>>> result.line["n_lines"], result.line["n"]["scored"] == len(scores)
(3, True)
>>> result.line["standardize"], round(float(result.table.groupby("wave")["sr_z"].std().max()), 6)
('line', 1.0)

The simulated stressor reactivity (the true E slope) has mean 0.5; the multilevel line's
fixed E slope recovers it:

>>> observation = compute_sr(scores, {"level": "multilevel"}, "observation")
>>> slope = observation.line["lines"][0]["coefficients"][1]
>>> slope["term"], bool(slope["ci_low"] < 0.5 < slope["ci_high"]), round(slope["estimate"], 2)
('E', True, 0.51)
"""

from srflow.config import SRSpec
from srflow.sr.coefficients import QQ_POINTS
from srflow.sr.compute import compute_all_sr, compute_sr, safe_compute_sr
from srflow.sr.outliers import MAHALANOBIS_P
from srflow.sr.result import SIGN_CONVENTION, SR_Z_NOTES, SRResult, empty_sr_table
from srflow.sr.units import MIN_UNITS_PER_LINE

__all__ = [
    "MAHALANOBIS_P",
    "MIN_UNITS_PER_LINE",
    "QQ_POINTS",
    "SIGN_CONVENTION",
    "SR_Z_NOTES",
    "SRResult",
    "SRSpec",
    "compute_all_sr",
    "compute_sr",
    "empty_sr_table",
    "safe_compute_sr",
]
