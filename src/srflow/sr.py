"""Stressor-reactivity (SR) resilience scores.

The normative relation between stressor exposure ``E`` and mental-health problems ``P``
is fitted across the sample (the *line*); a unit's SR is its residual from that line::

    sr = P - P_expected      higher = more problems than expected = less resilient

The unit depends on the spec's ``level`` (DESIGN.md section 5):

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

``sr_z`` is the z-score of ``sr`` over all scored units of the spec (mean 0, SD 1 with
ddof = 1). For levels with several lines (wave, sliding) it is pooled over all lines
rather than computed per line, so that SR stays comparable across waves and windows
(a wave where everyone is further from the norm keeps larger scores).

Only units with the needed values observed are scored: a wave whose questionnaire is
entirely missing (P NaN) gets no SR; it is counted under ``excluded.missing``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special  # not scipy.stats: its import costs ~0.5 s in every SR job

from srflow.errors import ConfigError, InputError, ModelError
from srflow.tables import jsonable, write_json, write_table

__all__ = [
    "SIGN_CONVENTION",
    "SRResult",
    "compute_all_sr",
    "compute_sr",
    "empty_sr_table",
    "resolve_sr_spec",
    "safe_compute_sr",
]

SIGN_CONVENTION = "sr = P - P_expected; higher = more problems than expected = less resilient"
SR_Z_NOTE = ("sr_z = (sr - mean) / SD (ddof=1) over all scored units of the spec, pooled over its "
             "lines")
LEVELS = ("wave", "period", "multilevel", "sliding", "change")
FORMS = ("linear", "quadratic", "auto")
OUTLIER_METHODS = ("none", "winsorize", "exclude", "mahalanobis", "huber")
SPEC_DEFAULTS: dict[str, Any] = {
    "form": "linear",
    "alpha": 0.05,
    "outliers": "none",
    "k": 3.0,
    "waves": None,
    "min_waves": 1,
    "window": 3,
    "min_in_window": 1,
    "adjust_previous": False,
    "reference": "all",
    "outcome": "P",
    "exposure": "E",
}
#: Upper-tail chi-square probability at or below which a point is a Mahalanobis outlier.
MAHALANOBIS_P = 0.001
#: Number of points of the residual QQ summary.
QQ_POINTS = 21
#: Fewest fitting units a line may have.
MIN_UNITS_PER_LINE = 3
_COLLINEARITY_TOLERANCE = 1e-10


# --------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class SRResult:
    """SR scores of one spec.

    Attributes
    ----------
    name : str
        The spec's name (the key under ``sr:`` in the config).
    table : pandas.DataFrame
        ``participant_id``, the level's key columns (``wave``; ``window``; ``wave_from``,
        ``wave``; none for ``period``), ``E``, (``P_previous`` for ``change``), ``P``,
        ``P_expected``, ``sr``, ``sr_z``. Sorted by participant then key. Empty (with the
        header) when the spec failed.
    line : dict
        JSON-ready description of the normative line(s) and diagnostics.
    status : str
        ``"ok"`` or ``"failed"``.
    reason : str or None
        Why the spec failed (names the spec).
    """

    name: str
    table: pd.DataFrame
    line: dict
    status: str = "ok"
    reason: str | None = None

    def write(self, csv_path: str | Path, json_path: str | Path) -> None:
        """Write ``table`` as CSV and ``line`` as JSON (deterministic formatting).

        Parameters
        ----------
        csv_path, json_path : str or Path
            Targets, e.g. ``results/{cohort}/sr/{spec}.csv`` and ``.line.json``.
        """
        write_table(self.table, csv_path)
        write_json(self.line, json_path)


def empty_sr_table(level: str) -> pd.DataFrame:
    """The header of an SR table of ``level``, with no rows (used when a spec fails).

    Parameters
    ----------
    level : str
        One of :data:`LEVELS`.

    Returns
    -------
    pandas.DataFrame
    """
    columns = ["participant_id", *_key_columns(level), "E"]
    if level == "change":
        columns.append("P_previous")
    columns += ["P", "P_expected", "sr", "sr_z"]
    frame = pd.DataFrame({c: pd.Series([], dtype="float64") for c in columns})
    frame["participant_id"] = frame["participant_id"].astype("str")
    for key in _key_columns(level):
        frame[key] = frame[key].astype("int64")
    return frame


def _key_columns(level: str) -> list[str]:
    return {"wave": ["wave"], "multilevel": ["wave"], "sliding": ["window"],
            "change": ["wave_from", "wave"], "period": []}.get(level, [])


# --------------------------------------------------------------------------------------
# Spec
# --------------------------------------------------------------------------------------


def resolve_sr_spec(spec: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Check an SR spec and fill in the defaults of the config schema.

    Parameters
    ----------
    spec : Mapping
        One entry of the config's ``sr`` block.
    name : str
        The spec's name, used in messages.

    Returns
    -------
    dict
        The spec with every key of :data:`SPEC_DEFAULTS` present.

    Raises
    ------
    ConfigError
        Unknown key or invalid value.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"SR spec '{name}' must be a mapping such as {{level: period}}; got {spec!r}.")
    unknown = sorted(set(spec) - set(SPEC_DEFAULTS) - {"level"})
    if unknown:
        raise ConfigError(f"SR spec '{name}': unknown key(s) {unknown}; allowed: level, "
                          f"{', '.join(SPEC_DEFAULTS)}.")
    out = {**SPEC_DEFAULTS, **{k: v for k, v in spec.items() if v is not None or k == "waves"}}
    if spec.get("level") not in LEVELS:
        raise ConfigError(f"SR spec '{name}': level must be one of {list(LEVELS)}; got {spec.get('level')!r}.")
    out["level"] = spec["level"]
    for key, allowed in (("form", FORMS), ("outliers", OUTLIER_METHODS)):
        if out[key] not in allowed:
            raise ConfigError(f"SR spec '{name}': {key} must be one of {list(allowed)}; got {out[key]!r}.")
    if not (isinstance(out["alpha"], (int, float)) and 0 < out["alpha"] < 1):
        raise ConfigError(f"SR spec '{name}': alpha must be a number between 0 and 1; got {out['alpha']!r}.")
    if not (isinstance(out["k"], (int, float)) and out["k"] > 0):
        raise ConfigError(f"SR spec '{name}': k must be a positive number; got {out['k']!r}.")
    for key, low in (("min_waves", 1), ("window", 2), ("min_in_window", 1)):
        if not (isinstance(out[key], (int, np.integer)) and not isinstance(out[key], bool) and out[key] >= low):
            raise ConfigError(f"SR spec '{name}': {key} must be an integer >= {low}; got {out[key]!r}.")
    if out["min_in_window"] > out["window"]:
        raise ConfigError(f"SR spec '{name}': min_in_window ({out['min_in_window']}) cannot exceed window "
                          f"({out['window']}).")
    if out["waves"] is not None:
        out["waves"] = _wave_list(out["waves"], f"SR spec '{name}': waves")
    if not isinstance(out["adjust_previous"], bool):
        raise ConfigError(f"SR spec '{name}': adjust_previous must be true or false.")
    ref = out["reference"]
    if isinstance(ref, str):
        if ref != "all":
            raise ConfigError(f"SR spec '{name}': reference must be 'all', {{waves: [..]}} or "
                              f"{{column: name, value: v}}; got {ref!r}.")
    elif isinstance(ref, Mapping) and set(ref) == {"waves"}:
        out["reference"] = {"waves": _wave_list(ref["waves"], f"SR spec '{name}': reference.waves")}
    elif isinstance(ref, Mapping) and set(ref) == {"column", "value"} and isinstance(ref["column"], str):
        out["reference"] = {"column": ref["column"], "value": ref["value"]}
    else:
        raise ConfigError(f"SR spec '{name}': reference must be 'all', {{waves: [..]}} or "
                          f"{{column: name, value: v}}; got {ref!r}.")
    for key in ("outcome", "exposure"):
        if not isinstance(out[key], str) or not out[key]:
            raise ConfigError(f"SR spec '{name}': {key} must be a column name; got {out[key]!r}.")
    return out


def _wave_list(values: Any, what: str) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise ConfigError(f"{what} must be a non-empty list of wave numbers; got {values!r}.")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{what} must hold integers >= 1; got {v!r}.")
        out.append(int(v))
    return sorted(set(out))


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------


def compute_sr(scores: pd.DataFrame, spec: Mapping[str, Any], name: str) -> SRResult:
    """Compute the SR scores of one spec.

    Parameters
    ----------
    scores : pandas.DataFrame
        The scores table: ``participant_id``, ``wave``, the outcome and exposure columns
        (default ``P`` and ``E``) and any column the reference names.
    spec : Mapping
        One SR spec (keys of the config schema's ``sr_spec``; defaults filled here).
    name : str
        The spec's name.

    Returns
    -------
    SRResult
        ``status`` is ``"ok"``.

    Raises
    ------
    ConfigError
        The spec itself is invalid.
    InputError
        The scores table lacks ``participant_id``/``wave`` or repeats a (participant, wave).
    ModelError
        The spec cannot be computed on these data (no exposure values, E constant in a
        line, fewer than 3 units in a line, a missing column, ...). Use
        :func:`safe_compute_sr` to turn this into a failed result instead.
    """
    s = resolve_sr_spec(spec, name)
    frame = _prepare(scores, s, name)
    units = _build_units(frame, s, name)
    if s["level"] == "multilevel":
        fitted, line = _fit_multilevel(units, s, name)
    else:
        fitted, line = _fit_ols_level(units, s, name)
    expected = units.offset + fitted
    sr = units.P - expected
    table = _assemble_table(units, expected, sr, s["level"])
    header = _line_header(s, name)
    header.update(line)
    header["n"]["scored"] = int(len(table))
    return SRResult(name=name, table=table, line=jsonable(header), status="ok", reason=None)


def safe_compute_sr(scores: pd.DataFrame, spec: Mapping[str, Any], name: str) -> SRResult:
    """Like :func:`compute_sr`, but a spec that cannot be computed gives a failed result.

    A :class:`~srflow.errors.ModelError` (E constant, too few units in a wave or window,
    no exposure values, ...) becomes ``status="failed"`` with the message as ``reason``
    and an empty table with the header, so the other specs still run. Configuration and
    input errors still raise.

    Parameters
    ----------
    scores, spec, name
        As for :func:`compute_sr`.

    Returns
    -------
    SRResult
    """
    try:
        return compute_sr(scores, spec, name)
    except ModelError as exc:
        s = resolve_sr_spec(spec, name)
        reason = str(exc)
        if f"'{name}'" not in reason:
            reason = f"SR spec '{name}': {reason}"
        line = _line_header(s, name)
        line.update(status="failed", reason=reason)
        return SRResult(name=name, table=empty_sr_table(s["level"]), line=jsonable(line),
                        status="failed", reason=reason)


def compute_all_sr(scores: pd.DataFrame, specs: Mapping[str, Mapping[str, Any]]) -> dict[str, SRResult]:
    """Run :func:`safe_compute_sr` for every spec of a config's ``sr`` block.

    Parameters
    ----------
    scores : pandas.DataFrame
        The scores table.
    specs : Mapping
        Spec name -> spec.

    Returns
    -------
    dict
        Spec name -> :class:`SRResult`, in the order of ``specs``.
    """
    return {name: safe_compute_sr(scores, spec, name) for name, spec in specs.items()}


def _line_header(s: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {
        "spec": name,
        "status": "ok",
        "reason": None,
        "level": s["level"],
        "outcome": s["outcome"],
        "exposure": s["exposure"],
        "form_requested": s["form"],
        "form_used": None,
        "alpha": s["alpha"],
        "outliers": {"method": s["outliers"], "k": s["k"]},
        "reference": s["reference"],
        "waves": s["waves"],
        "settings": {k: s[k] for k in ("min_waves", "window", "min_in_window", "adjust_previous")},
        "sign_convention": SIGN_CONVENTION,
        "sr_z": SR_Z_NOTE,
        "n": {},
    }


# --------------------------------------------------------------------------------------
# Units of each level
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Frame:
    """The columns SR needs, sorted by (participant, wave), as numpy arrays."""

    codes: np.ndarray        # participant code, order of sorted participant_id
    labels: pd.Index         # participant_id per code
    wave: np.ndarray         # int64
    P: np.ndarray
    E: np.ndarray
    reference: np.ndarray    # row meets the reference condition (waves: any wave of it)
    in_waves: np.ndarray     # row belongs to the spec's waves


@dataclasses.dataclass
class _Units:
    """The scored units of a spec (every needed value observed)."""

    keys: dict[str, np.ndarray]   # participant_id and key columns, in table order
    E: np.ndarray
    P: np.ndarray                 # outcome shown in the table
    y: np.ndarray                 # regressand (P, or dP for change)
    offset: np.ndarray            # P_expected = offset + fitted y (P_(t-1) for change)
    covariate: np.ndarray | None  # P_(t-1) when adjust_previous
    line: np.ndarray              # line index of every unit
    line_labels: list[Any]
    line_key: str | None          # "wave" / "window" / None
    reference: np.ndarray         # unit may define the line
    groups: np.ndarray            # participant code (multilevel grouping)
    labels: pd.Index              # participant_id of each code
    excluded: dict[str, int]
    n_candidates: int


def _prepare(scores: pd.DataFrame, s: Mapping[str, Any], name: str) -> _Frame:
    if not isinstance(scores, pd.DataFrame):
        raise InputError("The scores table must be a pandas DataFrame.")
    for col in ("participant_id", "wave"):
        if col not in scores.columns:
            raise InputError(f"The scores table has no '{col}' column; it must come from srflow.scoring.score.")
    needed = {"outcome": s["outcome"], "exposure": s["exposure"]}
    ref = s["reference"]
    if isinstance(ref, Mapping) and "column" in ref:
        needed["reference column"] = ref["column"]
    for role, col in needed.items():
        if col not in scores.columns:
            # A missing column is data-dependent (the sr block is shared by all cohorts).
            raise ModelError(f"SR spec '{name}': the {role} column '{col}' is not in the scores table "
                             f"(columns: {', '.join(map(str, scores.columns))}).")
    try:
        wave_f = pd.to_numeric(scores["wave"]).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise InputError("The scores table's wave column must hold wave numbers (integers >= 1).") from None
    if not np.all(np.isfinite(wave_f) & (wave_f == np.round(wave_f))):
        raise InputError("The scores table has missing or non-integer wave numbers; validate the data first.")
    wave = wave_f.astype(np.int64)
    codes, labels = pd.factorize(scores["participant_id"], sort=True)
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any():
        raise InputError("The scores table has rows without a participant_id.")
    P = _numeric(scores[s["outcome"]], s["outcome"], name)
    E = _numeric(scores[s["exposure"]], s["exposure"], name)
    order = np.lexsort((wave, codes))
    codes, wave, P, E = codes[order], wave[order], P[order], E[order]
    if len(codes) > 1 and np.any((codes[1:] == codes[:-1]) & (wave[1:] == wave[:-1])):
        raise InputError("The scores table repeats a (participant_id, wave) pair; validation should have "
                         "caught this.")
    in_waves = np.ones(len(codes), bool) if s["waves"] is None else np.isin(wave, s["waves"])
    if isinstance(ref, Mapping) and "waves" in ref:
        reference = np.isin(wave, ref["waves"])
    elif isinstance(ref, Mapping):
        reference = _matches(scores[ref["column"]], ref["value"], name, ref["column"])[order]
    else:
        reference = np.ones(len(codes), bool)
    if not np.isfinite(E).any():
        raise ModelError(f"SR spec '{name}': the exposure '{s['exposure']}' has no values (all missing); "
                         "configure a stressor instrument or choose another exposure.")
    if not np.isfinite(P).any():
        raise ModelError(f"SR spec '{name}': the outcome '{s['outcome']}' has no values (all missing).")
    return _Frame(codes=codes, labels=pd.Index(labels), wave=wave, P=P, E=E, reference=reference,
                  in_waves=in_waves)


def _numeric(series: pd.Series, column: str, name: str) -> np.ndarray:
    try:
        values = pd.to_numeric(series, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"SR spec '{name}': column '{column}' is not numeric ({exc}).") from None
    values = values.copy()
    values[~np.isfinite(values)] = np.nan
    return values


def _matches(column: pd.Series, value: Any, name: str, column_name: str) -> np.ndarray:
    hit = np.asarray((column == value).fillna(False), dtype=bool) if len(column) else np.zeros(0, bool)
    if not hit.any():
        # Config values are typed by YAML: accept "1" for 1 or "True" for True.
        hit = np.asarray(column.astype("str").fillna("") == str(value), dtype=bool) & column.notna().to_numpy()
    if not hit.any():
        raise ModelError(f"SR spec '{name}': no row has {column_name} == {value!r}, so the reference group "
                         "is empty; check the reference value.")
    return hit


def _build_units(f: _Frame, s: Mapping[str, Any], name: str) -> _Units:
    level = s["level"]
    if level in ("wave", "multilevel"):
        return _row_units(f, s, name)
    if level == "period":
        return _period_units(f, s, name)
    if level == "sliding":
        return _sliding_units(f, s, name)
    return _change_units(f, s, name)


def _no_units(name: str, what: str) -> ModelError:
    return ModelError(f"SR spec '{name}': no {what} has both the outcome and the exposure observed, so "
                      "there is nothing to score.")


def _row_units(f: _Frame, s: Mapping[str, Any], name: str) -> _Units:
    rows = f.in_waves
    ok = rows & np.isfinite(f.P) & np.isfinite(f.E)
    if not ok.any():
        raise _no_units(name, "row")
    wave = f.wave[ok]
    pooled = s["level"] == "wave" and isinstance(s["reference"], Mapping) and "waves" in s["reference"]
    if s["level"] == "wave" and not pooled:
        labels, line = np.unique(wave, return_inverse=True)
        line_labels, line_key = [int(w) for w in labels], "wave"
    else:
        line = np.zeros(int(ok.sum()), dtype=np.int64)
        line_labels = ["reference waves " + ",".join(map(str, s["reference"]["waves"]))] if pooled else ["all"]
        line_key = None
    codes = f.codes[ok]
    return _Units(
        keys={"participant_id": codes, "wave": wave}, E=f.E[ok], P=f.P[ok], y=f.P[ok],
        offset=np.zeros(int(ok.sum())), covariate=None, line=np.asarray(line, np.int64),
        line_labels=line_labels, line_key=line_key, reference=f.reference[ok], groups=codes, labels=f.labels,
        excluded={"missing": int((rows & ~ok).sum())}, n_candidates=int(rows.sum()),
    )


def _participant_reference(f: _Frame, s: Mapping[str, Any], n_people: int) -> np.ndarray:
    """Participants that belong to the reference (any of their rows meets the condition)."""
    ref = s["reference"]
    if not isinstance(ref, Mapping):
        return np.ones(n_people, bool)
    rows = f.reference
    if "waves" in ref:
        rows = rows & np.isfinite(f.P) & np.isfinite(f.E)
    return np.bincount(f.codes[rows], minlength=n_people) > 0


def _period_units(f: _Frame, s: Mapping[str, Any], name: str) -> _Units:
    n_people = len(f.labels)
    rows = f.in_waves
    ok = rows & np.isfinite(f.P) & np.isfinite(f.E)
    n_rows = np.bincount(f.codes[rows], minlength=n_people)
    n_ok = np.bincount(f.codes[ok], minlength=n_people)
    keep = n_ok >= s["min_waves"]
    if not keep.any():
        raise ModelError(f"SR spec '{name}': no participant has both P and E observed at >= "
                         f"{s['min_waves']} waves of the period, so there is nothing to score.")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_P = np.bincount(f.codes[ok], weights=f.P[ok], minlength=n_people) / n_ok
        mean_E = np.bincount(f.codes[ok], weights=f.E[ok], minlength=n_people) / n_ok
    people = np.flatnonzero(keep)
    reference = _participant_reference(f, s, n_people)[people]
    return _Units(
        keys={"participant_id": people}, E=mean_E[people], P=mean_P[people], y=mean_P[people],
        offset=np.zeros(len(people)), covariate=None, line=np.zeros(len(people), np.int64),
        line_labels=["all"], line_key=None, reference=reference, groups=people, labels=f.labels,
        excluded={"missing": int(((n_rows > 0) & (n_ok == 0)).sum()),
                  "too_few_waves": int(((n_ok > 0) & ~keep).sum())},
        n_candidates=int((n_rows > 0).sum()),
    )


def _sliding_units(f: _Frame, s: Mapping[str, Any], name: str) -> _Units:
    w = int(s["window"])
    n_people = len(f.labels)
    rows = f.in_waves
    if not rows.any():
        raise _no_units(name, "row")
    first, last = int(f.wave[rows].min()), int(f.wave[rows].max())
    starts = np.arange(first, last - w + 2)
    if len(starts) == 0:
        raise ModelError(f"SR spec '{name}': the data span waves {first}..{last}, fewer than one window of "
                         f"{w} waves; lower 'window'.")
    n_win = len(starts)
    ok = rows & np.isfinite(f.P) & np.isfinite(f.E)
    size = n_people * n_win
    # Each row belongs to up to w windows: expand once, then reduce with bincount.
    cnt_any = np.zeros(size)
    cnt = np.zeros(size)
    sum_P = np.zeros(size)
    sum_E = np.zeros(size)
    for j in range(w):
        start = f.wave - j
        valid = rows & (start >= first) & (start <= starts[-1])
        key = f.codes[valid] * n_win + (start[valid] - first)
        cnt_any += np.bincount(key, minlength=size)
        v_ok = valid & ok
        key_ok = f.codes[v_ok] * n_win + (start[v_ok] - first)
        cnt += np.bincount(key_ok, minlength=size)
        sum_P += np.bincount(key_ok, weights=f.P[v_ok], minlength=size)
        sum_E += np.bincount(key_ok, weights=f.E[v_ok], minlength=size)
    keep = cnt >= s["min_in_window"]
    units = np.flatnonzero(keep)  # participant-major, window-minor: already in table order
    if len(units) == 0:
        raise ModelError(f"SR spec '{name}': no participant has P and E observed at >= "
                         f"{s['min_in_window']} waves of any window of {w} waves.")
    people, win = np.divmod(units, n_win)
    reference = _participant_reference(f, s, n_people)[people]
    return _Units(
        keys={"participant_id": people, "window": starts[win].astype(np.int64)},
        E=sum_E[units] / cnt[units], P=sum_P[units] / cnt[units], y=sum_P[units] / cnt[units],
        offset=np.zeros(len(units)), covariate=None, line=win.astype(np.int64),
        line_labels=[int(x) for x in starts], line_key="window", reference=reference, groups=people,
        labels=f.labels,
        excluded={"missing": int(((cnt_any > 0) & (cnt == 0)).sum()),
                  "too_few_waves": int(((cnt > 0) & ~keep).sum())},
        n_candidates=int((cnt_any > 0).sum()),
    )


def _change_units(f: _Frame, s: Mapping[str, Any], name: str) -> _Units:
    sel = np.flatnonzero(f.in_waves)
    codes, wave, P, E, ref = f.codes[sel], f.wave[sel], f.P[sel], f.E[sel], f.reference[sel]
    # Rows are sorted by (participant, wave): the predecessor is the previous row.
    interval = np.zeros(len(sel), bool)
    interval[1:] = (codes[1:] == codes[:-1]) & (wave[1:] - wave[:-1] == 1)
    end = np.flatnonzero(interval)
    start = end - 1
    ok = np.isfinite(P[end]) & np.isfinite(P[start]) & np.isfinite(E[end])
    if not ok.any():
        raise ModelError(f"SR spec '{name}': no interval between consecutive waves has P at both waves and "
                         "E at its end, so there is nothing to score.")
    end, start = end[ok], start[ok]
    p_prev = P[start]
    return _Units(
        keys={"participant_id": codes[end], "wave_from": wave[start], "wave": wave[end]},
        E=E[end], P=P[end], y=P[end] - p_prev, offset=p_prev,
        covariate=p_prev if s["adjust_previous"] else None, line=np.zeros(len(end), np.int64),
        line_labels=["all"], line_key=None, reference=ref[end], groups=codes[end], labels=f.labels,
        excluded={"missing": int((~ok).sum())}, n_candidates=int(len(ok)),
    )


# --------------------------------------------------------------------------------------
# Grouped OLS on sufficient statistics
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class _OlsFit:
    beta: np.ndarray      # (G, p) for design [1, X]
    cov: np.ndarray       # (G, p, p)
    n: np.ndarray         # (G,)
    ssr: np.ndarray
    sst: np.ndarray
    sigma: np.ndarray
    loglik: np.ndarray    # Gaussian maximum log-likelihood (sigma^2 = SSR / n)
    resid: np.ndarray     # (n_rows,) fitting residuals
    leverage: np.ndarray  # (n_rows,)
    df_resid: np.ndarray
    mean_x: np.ndarray    # (G, k) per-line means of X
    xtx_inv: np.ndarray   # (G, k, k) inverse of the centred cross-products of X


def _per_line(line: np.ndarray, values: np.ndarray | None, n_lines: int) -> np.ndarray:
    return np.bincount(line, weights=values, minlength=n_lines)


def _ols_lines(y: np.ndarray, X: np.ndarray, line: np.ndarray, n_lines: int) -> _OlsFit:
    """OLS of ``y`` on ``[1, X]`` separately per line, from centred per-line cross-products.

    Returns ``beta`` with ``beta[:, 0]`` the intercept at ``X = 0``. Raises a bare
    ``_RankError`` (with the offending lines) if a design is rank deficient.
    """
    k = X.shape[1]
    n = _per_line(line, None, n_lines)
    if (n <= k + 1).any():
        raise _RankError(np.flatnonzero(n <= k + 1), too_few=True)
    mean_x = np.column_stack([_per_line(line, X[:, j], n_lines) for j in range(k)]) / n[:, None]
    mean_y = _per_line(line, y, n_lines) / n
    Xc = X - mean_x[line]
    yc = y - mean_y[line]
    xtx = np.empty((n_lines, k, k))
    for a in range(k):
        for b in range(a, k):
            xtx[:, a, b] = xtx[:, b, a] = _per_line(line, Xc[:, a] * Xc[:, b], n_lines)
    xty = np.column_stack([_per_line(line, Xc[:, j] * yc, n_lines) for j in range(k)])
    sst = _per_line(line, yc * yc, n_lines)
    scale = np.sqrt(np.einsum("gjj->gj", xtx))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = xtx / (scale[:, :, None] * scale[:, None, :])
    bad = ~np.isfinite(corr).all(axis=(1, 2)) | (scale <= 0).any(axis=1)
    corr[bad] = np.eye(k)
    bad |= np.linalg.eigvalsh(corr)[:, 0] < _COLLINEARITY_TOLERANCE
    if bad.any():
        raise _RankError(np.flatnonzero(bad))
    inv = np.linalg.inv(xtx)
    slopes = np.einsum("gab,gb->ga", inv, xty)
    resid = yc - np.einsum("nk,nk->n", Xc, slopes[line])
    ssr = _per_line(line, resid * resid, n_lines)
    df_resid = n - k - 1
    sigma2 = ssr / df_resid
    # Intercept at the means is uncorrelated with the slopes; then shift to X = 0.
    p = k + 1
    cov_theta = np.zeros((n_lines, p, p))
    cov_theta[:, 0, 0] = sigma2 / n
    cov_theta[:, 1:, 1:] = sigma2[:, None, None] * inv
    A = np.zeros((n_lines, p, p))
    A[:, 0, 0] = 1.0
    A[:, 0, 1:] = -mean_x
    A[:, 1:, 1:] = np.eye(k)
    beta = np.column_stack([mean_y - (slopes * mean_x).sum(axis=1), slopes])
    cov = A @ cov_theta @ np.transpose(A, (0, 2, 1))
    quad = np.zeros(len(y))
    for a in range(k):
        for b in range(k):
            quad += Xc[:, a] * Xc[:, b] * inv[line, a, b]
    leverage = 1.0 / n[line] + quad
    with np.errstate(divide="ignore"):
        loglik = -0.5 * n * (np.log(2 * np.pi * ssr / n) + 1.0)
    return _OlsFit(beta=beta, cov=cov, n=n, ssr=ssr, sst=sst, sigma=np.sqrt(sigma2), loglik=loglik,
                   resid=resid, leverage=leverage, df_resid=df_resid, mean_x=mean_x, xtx_inv=inv)


class _RankError(Exception):
    def __init__(self, lines: np.ndarray, too_few: bool = False):
        super().__init__("too few units" if too_few else "rank deficient")
        self.lines = lines
        self.too_few = too_few


# --------------------------------------------------------------------------------------
# Outlier handling of the fitting sample
# --------------------------------------------------------------------------------------


def _line_mean_sd(values: np.ndarray, line: np.ndarray, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
    n = _per_line(line, None, n_lines)
    mean = _per_line(line, values, n_lines) / n
    dev = values - mean[line]
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(_per_line(line, dev * dev, n_lines) / (n - 1))
    return mean, sd


def _clean(variables: dict[str, np.ndarray], line: np.ndarray, n_lines: int, method: str, k: float
           ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Apply the outlier rule to the fitting sample.

    Returns the mask of kept units, the (possibly clipped) variables of the kept units,
    and a JSON-ready description (per line).
    """
    keep = np.ones(len(line), bool)
    info: dict[str, Any] = {}
    if method == "winsorize":
        clipped = {}
        info = {"bounds": {}, "n_winsorized": {}}
        for var, values in variables.items():
            mean, sd = _line_mean_sd(values, line, n_lines)
            low, high = mean - k * sd, mean + k * sd
            clipped[var] = np.clip(values, low[line], high[line])
            info["bounds"][var] = [[float(a), float(b)] for a, b in zip(low, high)]
            info["n_winsorized"][var] = [int(c) for c in _per_line(line, (clipped[var] != values) * 1.0,
                                                                    n_lines)]
        return keep, clipped, info
    if method == "exclude":
        for values in variables.values():
            mean, sd = _line_mean_sd(values, line, n_lines)
            with np.errstate(invalid="ignore", divide="ignore"):
                z = np.abs(values - mean[line]) / sd[line]
            keep &= ~(z >= k)  # a constant variable (sd 0) excludes nobody
    elif method == "mahalanobis":
        names = list(variables)
        d = len(names)
        data = np.column_stack([variables[v] for v in names])
        n = _per_line(line, None, n_lines)
        mean = np.column_stack([_per_line(line, data[:, j], n_lines) for j in range(d)]) / n[:, None]
        dev = data - mean[line]
        cov = np.empty((n_lines, d, d))
        for a in range(d):
            for b in range(a, d):
                cov[:, a, b] = cov[:, b, a] = _per_line(line, dev[:, a] * dev[:, b], n_lines) / (n - 1)
        inv = np.linalg.pinv(cov, hermitian=True)
        d2 = np.einsum("na,nab,nb->n", dev, inv[line], dev)
        keep = special.chdtrc(d, d2) > MAHALANOBIS_P
        info = {"variables": names, "df": d, "p_threshold": MAHALANOBIS_P,
                "d2_threshold": float(special.chdtri(d, MAHALANOBIS_P))}
    info["n_excluded"] = [int(c) for c in _per_line(line, (~keep) * 1.0, n_lines)]
    return keep, {v: values[keep] for v, values in variables.items()}, info


# --------------------------------------------------------------------------------------
# OLS levels (wave, period, sliding, change)
# --------------------------------------------------------------------------------------


def _line_label(units: _Units, g: int) -> Any:
    return {units.line_key: units.line_labels[g]} if units.line_key else units.line_labels[g]


def _check_line_sizes(counts: np.ndarray, units: _Units, name: str, what: str, need: int) -> None:
    small = np.flatnonzero(counts < need)
    if len(small):
        where = ", ".join(_describe_line(units, g) for g in small[:10])
        raise ModelError(f"SR spec '{name}': fewer than {need} {what} to fit the line in {where} "
                         f"(found {', '.join(str(int(counts[g])) for g in small[:10])}); the normative line "
                         "needs at least 3 units per line. Use other waves/window or a broader reference.")


def _describe_line(units: _Units, g: int) -> str:
    if units.line_key:
        return f"{units.line_key} {units.line_labels[g]}"
    return "the sample" if units.line_labels[g] == "all" else str(units.line_labels[g])


def _design(E_centered: np.ndarray, covariate: np.ndarray | None, quadratic: bool) -> np.ndarray:
    cols = [E_centered]
    if quadratic:
        cols.append(E_centered ** 2)
    if covariate is not None:
        cols.append(covariate)
    return np.column_stack(cols)


def _term_names(s: Mapping[str, Any], quadratic: bool) -> list[str]:
    names = ["Intercept", s["exposure"]]
    if quadratic:
        names.append(f"{s['exposure']}^2")
    if s["level"] == "change" and s["adjust_previous"]:
        names.append(f"{s['outcome']}_previous")
    return names


def _to_raw_scale(beta: np.ndarray, cov: np.ndarray, center: np.ndarray, quadratic: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients on (E - c) [and (E - c)^2] -> coefficients on raw E [and E^2]."""
    G, p = beta.shape
    A = np.tile(np.eye(p), (G, 1, 1))
    A[:, 0, 1] = -center
    if quadratic:
        A[:, 0, 2] = center ** 2
        A[:, 1, 2] = -2 * center
    raw = np.einsum("gab,gb->ga", A, beta)
    return raw, A @ cov @ np.transpose(A, (0, 2, 1))


def _coefficient_table(names: list[str], est: np.ndarray, se: np.ndarray, crit: float,
                       se_naive: np.ndarray | None = None) -> list[dict]:
    rows = [{"term": t, "estimate": float(b), "se": float(e), "ci_low": float(b - crit * e),
             "ci_high": float(b + crit * e)} for t, b, e in zip(names, est, se)]
    if se_naive is not None:
        for row, e in zip(rows, se_naive):
            row["se_naive"] = float(e)
    return rows


def _cluster_robust_cov(fit: _OlsFit, X: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, int]:
    """CR1 cluster-robust covariance of a single-line OLS fit, for the design ``[1, X]``.

    The sandwich ``B M B`` with ``B = (D'D)^-1`` and ``M = sum_g D_g' u_g u_g' D_g``, times
    ``G/(G-1) * (n-1)/(n-p)`` (statsmodels' default ``cov_type="cluster"``). It is formed in
    the parameterisation with the intercept at the means of X, where ``D'D`` is block diagonal
    (the inverse is already known from the fit), then shifted to the intercept at ``X = 0``;
    the sandwich is equivariant under this linear reparameterisation, so nothing is lost.

    Returns the (1, p, p) covariance and the number of clusters.
    """
    n, k = X.shape
    p = k + 1
    codes = np.unique(clusters, return_inverse=True)[1].ravel()
    n_clusters = int(codes.max()) + 1
    resid = fit.resid
    scores = np.column_stack([resid, (X - fit.mean_x[0]) * resid[:, None]])
    # Per-cluster score sums: one bincount per coefficient, no loop over participants.
    sums = np.column_stack([np.bincount(codes, weights=scores[:, j], minlength=n_clusters) for j in range(p)])
    meat = np.einsum("ga,gb->ab", sums, sums)  # einsum, not BLAS: summation order fixed
    bread = np.zeros((p, p))
    bread[0, 0] = 1.0 / n
    bread[1:, 1:] = fit.xtx_inv[0]
    factor = n_clusters / (n_clusters - 1.0) * (n - 1.0) / (n - p)
    cov_theta = factor * (bread @ meat @ bread)
    shift = np.eye(p)
    shift[0, 1:] = -fit.mean_x[0]
    cov = shift @ cov_theta @ shift.T
    return ((cov + cov.T) / 2)[None], n_clusters


def _line_order(line: np.ndarray, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
    """Row order grouping the lines (stable) and the start of each line's block."""
    small = line.astype(np.int16) if n_lines < 2 ** 15 else line  # int16: numpy's radix sort
    order = np.argsort(small, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(line, minlength=n_lines))])
    return order, bounds


def _qq(std_resid: np.ndarray) -> dict[str, list[float]]:
    probs = (np.arange(1, QQ_POINTS + 1) - 0.5) / QQ_POINTS
    return {"probabilities": probs.tolist(), "theoretical": special.ndtri(probs).tolist(),
            "sample": np.quantile(std_resid, probs).tolist() if len(std_resid) else None}


@dataclasses.dataclass
class _FormFit:
    form: str
    beta: np.ndarray          # (G, p), E centred at `center`
    cov: np.ndarray
    entries: list[dict]       # JSON per line
    loglik: np.ndarray | None  # (G,) ML log-likelihood (OLS) or None (huber)
    quad_z: np.ndarray | None  # (G,) Wald z of the squared term (huber)
    ols: _OlsFit | None = None


def _fit_form(units: _Units, s: Mapping[str, Any], name: str, fit_y: np.ndarray, fit_E: np.ndarray,
              fit_cov: np.ndarray | None, fit_line: np.ndarray, center: np.ndarray, quadratic: bool,
              method: str, fit_clusters: np.ndarray | None = None) -> _FormFit:
    """Fit one form on the cleaned fitting sample.

    ``fit_clusters`` (participant code per fitting unit; level ``change`` only, one line)
    switches the reported SEs and CIs of the OLS fit to cluster-robust ones (CR1, t with
    ``G - 1`` df), because a participant contributes several correlated intervals; the
    conventional SE is kept as ``se_naive``. The coefficients do not depend on it.
    """
    G = len(units.line_labels)
    X = _design(fit_E - center[fit_line], fit_cov, quadratic)
    names = _term_names(s, quadratic)
    form = "quadratic" if quadratic else "linear"
    if method == "huber":
        return _fit_huber(units, names, form, fit_y, X, fit_line, center, quadratic)
    try:
        fit = _ols_lines(fit_y, X, fit_line, G)
    except _RankError as exc:
        where = ", ".join(_describe_line(units, g) for g in exc.lines[:10])
        if exc.too_few:
            raise ModelError(f"SR spec '{name}': the {form} line cannot be fitted in {where}: no more units "
                             f"than its {X.shape[1] + 1} coefficients.") from None
        raise ModelError(f"SR spec '{name}': the {form} line cannot be fitted in {where}: the exposure "
                         f"'{s['exposure']}' is constant there (or, for the quadratic form, takes fewer than "
                         "3 distinct values; or a predictor is collinear). Use form linear, other waves, or "
                         "another exposure.") from None
    raw, raw_cov = _to_raw_scale(fit.beta, fit.cov, center, quadratic)
    r2 = 1 - fit.ssr / fit.sst
    r2_adj = 1 - (1 - r2) * (fit.n - 1) / fit.df_resid
    entries = []
    if fit_clusters is None:
        for g in range(G):
            crit = float(special.stdtrit(fit.df_resid[g], 0.975))
            entries.append({
                "label": _line_label(units, g),
                "n_used": int(fit.n[g]),
                "E_center": float(center[g]),
                "coefficients": _coefficient_table(names, raw[g], np.sqrt(np.diag(raw_cov[g])), crit),
                "coefficients_centered": _coefficient_table(names, fit.beta[g], np.sqrt(np.diag(fit.cov[g])),
                                                            crit),
                "ci_method": "t",
                "sigma": float(fit.sigma[g]),
                "r2": float(r2[g]),
                "r2_adj": float(r2_adj[g]),
                "loglik_ml": float(fit.loglik[g]),
            })
        return _FormFit(form=form, beta=fit.beta, cov=fit.cov, entries=entries, loglik=fit.loglik,
                        quad_z=None, ols=fit)
    if G != 1:  # level change always has one line
        raise ValueError("cluster-robust SEs are implemented for a single line only")
    cluster_cov, n_clusters = _cluster_robust_cov(fit, X, fit_clusters)
    cluster_raw_cov = _to_raw_scale(fit.beta, cluster_cov, center, quadratic)[1]
    # Inference with G - 1 df, as statsmodels' cluster fit with use_t=True (df_resid_inference =
    # G - 1; its default use_t=False would give normal quantiles) and Stata's vce(cluster).
    crit = float(special.stdtrit(n_clusters - 1, 0.975))
    entries.append({
        "label": _line_label(units, 0),
        "n_used": int(fit.n[0]),
        "n_clusters": n_clusters,
        "E_center": float(center[0]),
        "coefficients": _coefficient_table(names, raw[0], np.sqrt(np.diag(cluster_raw_cov[0])), crit,
                                           se_naive=np.sqrt(np.diag(raw_cov[0]))),
        "coefficients_centered": _coefficient_table(names, fit.beta[0], np.sqrt(np.diag(cluster_cov[0])), crit,
                                                    se_naive=np.sqrt(np.diag(fit.cov[0]))),
        "se_type": "cluster-robust (CR1) by participant, t with G-1 df",
        "ci_method": f"t with G-1 = {n_clusters - 1} df (G = participants), cluster-robust SE",
        "se_naive_note": "se_naive: conventional OLS SE, which treats a participant's intervals as "
                         "independent (too small)",
        "sigma": float(fit.sigma[0]),
        "r2": float(r2[0]),
        "r2_adj": float(r2_adj[0]),
        "loglik_ml": float(fit.loglik[0]),
    })
    return _FormFit(form=form, beta=fit.beta, cov=cluster_cov, entries=entries, loglik=fit.loglik,
                    quad_z=None, ols=fit)


def _add_ols_diagnostics(form_fit: _FormFit, fit_line: np.ndarray, order: np.ndarray, bounds: np.ndarray
                         ) -> None:
    """Cook's distances and residual QQ quantiles per line (only for the fits reported)."""
    fit = form_fit.ols
    if fit is None or "residual_qq" in form_fit.entries[0]:
        return
    p = form_fit.beta.shape[1]
    h = fit.leverage
    sigma = fit.sigma[fit_line]
    with np.errstate(divide="ignore", invalid="ignore"):
        cook = (fit.resid ** 2 * h / (p * sigma ** 2 * (1 - h) ** 2))[order]
    std = (fit.resid / sigma)[order]
    for g, entry in enumerate(form_fit.entries):
        part = slice(bounds[g], bounds[g + 1])
        thr = 4.0 / fit.n[g]
        entry["cooks_distance"] = {"max": float(np.max(cook[part])), "threshold": thr,
                                   "n_above_threshold": int((cook[part] > thr).sum())}
        entry["residual_qq"] = _qq(std[part])


def _fit_huber(units: _Units, names: list[str], form: str, fit_y: np.ndarray, X: np.ndarray,
               fit_line: np.ndarray, center: np.ndarray, quadratic: bool) -> _FormFit:
    import statsmodels.api as sm  # imported here: only the huber option needs it

    G = len(units.line_labels)
    p = X.shape[1] + 1
    beta = np.empty((G, p))
    cov = np.empty((G, p, p))
    entries, quad_z = [], np.full(G, np.nan)
    order, bounds = _line_order(fit_line, G)
    too_few = np.flatnonzero(np.diff(bounds) <= p)
    if len(too_few):
        where = ", ".join(_describe_line(units, g) for g in too_few[:10])
        raise ModelError(f"the {form} Huber line cannot be fitted in {where}: no more units than its {p} "
                         "coefficients.")
    for g in range(G):
        idx = order[bounds[g]:bounds[g + 1]]
        design = np.column_stack([np.ones(len(idx)), X[idx]])
        res = sm.RLM(fit_y[idx], design, M=sm.robust.norms.HuberT()).fit()
        beta[g], cov[g] = res.params, res.bcov_scaled
        if quadratic:
            quad_z[g] = res.params[2] / res.bse[2]
        resid = fit_y[idx] - design @ res.params
        yc = fit_y[idx] - fit_y[idx].mean()
        r2 = 1 - resid @ resid / (yc @ yc)
        raw, raw_cov = _to_raw_scale(beta[g:g + 1], cov[g:g + 1], center[g:g + 1], quadratic)
        crit = float(special.ndtri(0.975))
        entries.append({
            "label": _line_label(units, g),
            "n_used": int(len(idx)),
            "E_center": float(center[g]),
            "coefficients": _coefficient_table(names, raw[0], np.sqrt(np.diag(raw_cov[0])), crit),
            "coefficients_centered": _coefficient_table(names, beta[g], np.sqrt(np.diag(cov[g])), crit),
            "ci_method": "normal",
            "scale": float(res.scale),
            "r2": float(r2),
            "r2_adj": float(1 - (1 - r2) * (len(idx) - 1) / (len(idx) - p)),
            "n_downweighted": int((res.weights < 1 - 1e-12).sum()),
            "min_weight": float(res.weights.min()),
            "cooks_distance": None,
            "cooks_note": "not defined for the robust (Huber) fit; see n_downweighted",
            "residual_qq": _qq(resid / res.scale),
        })
    return _FormFit(form=form, beta=beta, cov=cov, entries=entries, loglik=None, quad_z=quad_z)


def _fit_ols_level(units: _Units, s: Mapping[str, Any], name: str) -> tuple[np.ndarray, dict[str, Any]]:
    G = len(units.line_labels)
    method = s["outliers"]
    fitting = units.reference
    _check_line_sizes(_per_line(units.line[fitting], None, G), units, name, "reference units",
                      MIN_UNITS_PER_LINE)
    fit_line = units.line[fitting]
    variables = {"y": units.y[fitting], "E": units.E[fitting]}
    if units.covariate is not None:
        variables["covariate"] = units.covariate[fitting]
    if method in ("winsorize", "exclude", "mahalanobis"):
        keep, cleaned, outlier_info = _clean(variables, fit_line, G, method, float(s["k"]))
        fit_line = fit_line[keep]
        _check_line_sizes(_per_line(fit_line, None, G), units, name,
                          f"units left after the {method} outlier rule", MIN_UNITS_PER_LINE)
    else:
        keep, cleaned, outlier_info = np.ones(len(fit_line), bool), variables, {}
    outlier_info = _rename_outlier_vars(outlier_info, s)
    fit_y, fit_E, fit_cov = cleaned["y"], cleaned["E"], cleaned.get("covariate")
    if s["level"] == "change":
        # Units are intervals; a normative line still needs several people.
        n_people = len(np.unique(units.groups[fitting][keep]))
        if n_people < MIN_UNITS_PER_LINE:
            raise ModelError(f"SR spec '{name}': the fitting intervals come from only {n_people} "
                             f"participant(s); at least {MIN_UNITS_PER_LINE} are needed for a normative line.")
    center = _per_line(fit_line, fit_E, G) / _per_line(fit_line, None, G)
    # change: several intervals per participant, so SEs are clustered by participant.
    fit_clusters = units.groups[fitting][keep] if s["level"] == "change" else None

    def attempt(quadratic: bool) -> _FormFit | str:
        try:
            return _fit_form(units, s, name, fit_y, fit_E, fit_cov, fit_line, center, quadratic, method,
                             fit_clusters)
        except ModelError as exc:
            return str(exc)

    linear = attempt(False)
    if s["form"] == "linear" and isinstance(linear, str):
        raise ModelError(linear)
    quadratic = attempt(True)
    if s["form"] == "quadratic" and isinstance(quadratic, str):
        raise ModelError(quadratic)
    if isinstance(linear, str) and isinstance(quadratic, str):
        raise ModelError(linear)
    test = _form_test(linear, quadratic, G)
    if s["form"] == "auto":
        use_quadratic = isinstance(linear, str) or (
            not isinstance(quadratic, str) and test["p"] is not None and test["p"] < s["alpha"])
        chosen = quadratic if use_quadratic else linear
    else:
        chosen = linear if s["form"] == "linear" else quadratic
    assert not isinstance(chosen, str)
    order, bounds = _line_order(fit_line, G)
    reported = [linear, quadratic] if s["form"] == "auto" else [chosen]
    for form_fit in reported:
        if not isinstance(form_fit, str):
            _add_ols_diagnostics(form_fit, fit_line, order, bounds)

    Xall = _design(units.E - center[units.line], units.covariate, chosen.form == "quadratic")
    fitted = chosen.beta[units.line, 0] + np.einsum("nk,nk->n", Xall, chosen.beta[units.line, 1:])

    line: dict[str, Any] = {
        "form_used": chosen.form,
        "n": {
            "candidates": units.n_candidates,
            "used": int(len(fit_line)),
            "excluded": {
                **units.excluded,
                "not_reference": int((~units.reference).sum()),
                "outliers": int((~keep).sum()),
            },
        },
        "n_lines": G,
        "line_key": units.line_key,
        "form_test": test,
        "outliers": {"method": method, "k": s["k"], **outlier_info},
        "lines": chosen.entries,
    }
    if s["form"] == "auto":
        line["fits"] = {"linear": None if isinstance(linear, str) else linear.entries,
                        "quadratic": None if isinstance(quadratic, str) else quadratic.entries}
    return fitted, line


def _rename_outlier_vars(info: dict[str, Any], s: Mapping[str, Any]) -> dict[str, Any]:
    y_name = f"{s['outcome']}_change" if s["level"] == "change" else s["outcome"]
    mapping = {"y": y_name, "E": s["exposure"], "covariate": f"{s['outcome']}_previous"}
    out = {}
    for key, value in info.items():
        if isinstance(value, dict):
            out[key] = {mapping.get(k, k): v for k, v in value.items()}
        elif key == "variables":
            out[key] = [mapping.get(v, v) for v in value]
        else:
            out[key] = value
    return out


def _form_test(linear: _FormFit | str, quadratic: _FormFit | str, G: int) -> dict[str, Any]:
    """Linear vs quadratic: LR test on the ML OLS fits (Wald on the robust fits for huber)."""
    if isinstance(linear, str) or isinstance(quadratic, str):
        return {"method": None, "statistic": None, "df": None, "p": None,
                "note": "not computed: " + (quadratic if isinstance(quadratic, str) else linear)}
    if quadratic.loglik is None:
        z2 = quadratic.quad_z ** 2
        stat = float(z2.sum())
        return {"method": "wald_robust", "statistic": stat, "df": G, "p": float(special.chdtrc(G, stat)),
                "per_line": [float(v) for v in z2],
                "note": "Huber fits have no Gaussian likelihood: Wald chi-square of the squared term, "
                        "robust SE, summed over lines"}
    per_line = 2 * (quadratic.loglik - linear.loglik)
    stat = float(per_line.sum())
    return {"method": "likelihood_ratio", "statistic": stat, "df": G, "p": float(special.chdtrc(G, stat)),
            "per_line": [float(v) for v in per_line],
            "note": "2 (loglik_quadratic - loglik_linear), ML OLS fits on the same units"
                    + (", summed over lines (df = number of lines)" if G > 1 else "")}


# --------------------------------------------------------------------------------------
# Multilevel
# --------------------------------------------------------------------------------------


def _fit_multilevel(units: _Units, s: Mapping[str, Any], name: str) -> tuple[np.ndarray, dict[str, Any]]:
    from srflow.mixed import fit_lmm  # the engine is only needed here

    method = s["outliers"]
    if method == "huber":
        raise ModelError(f"SR spec '{name}': outliers 'huber' is not available for level multilevel (there is "
                         "no robust mixed model); use winsorize, exclude or mahalanobis.")
    fitting = units.reference
    fit_groups = units.groups[fitting]
    variables = {"y": units.y[fitting], "E": units.E[fitting]}
    line0 = np.zeros(len(fit_groups), np.int64)
    keep = np.ones(len(fit_groups), bool)
    outlier_info: dict[str, Any] = {}
    if method != "none":
        keep, variables, outlier_info = _clean(variables, line0, 1, method, float(s["k"]))
        fit_groups = fit_groups[keep]
    outlier_info = _rename_outlier_vars(outlier_info, s)
    fit_y, fit_E = variables["y"], variables["E"]
    n_people = len(np.unique(fit_groups))
    if n_people < MIN_UNITS_PER_LINE:
        raise ModelError(f"SR spec '{name}': only {n_people} participant(s) to fit the mixed model; at least "
                         f"{MIN_UNITS_PER_LINE} are needed.")
    if len(fit_E) == 0 or np.ptp(fit_E) == 0:
        raise ModelError(f"SR spec '{name}': the exposure '{s['exposure']}' is constant in the fitting sample, "
                         "so no line can be fitted.")
    center = float(fit_E.mean())
    Ec = fit_E - center
    Z = np.column_stack([np.ones_like(Ec), Ec])
    z_names = ["Intercept", s["exposure"]]

    def lmm(quadratic: bool, reml: bool):
        X = _design(Ec, None, quadratic)
        X = np.column_stack([np.ones_like(Ec), X])
        try:
            return fit_lmm(fit_y, X, Z, fit_groups, reml=reml, x_names=_term_names(s, quadratic),
                           z_names=z_names)
        except ModelError as exc:
            raise ModelError(f"SR spec '{name}': the mixed model P ~ E cannot be fitted: {exc}") from None

    test: dict[str, Any] = {"method": None, "statistic": None, "df": None, "p": None,
                            "note": "computed only for form auto (needs two extra ML fits)"}
    fits_json = None
    if s["form"] == "auto":
        ml_lin, ml_quad = lmm(False, False), lmm(True, False)
        stat = float(2 * (ml_quad.loglik - ml_lin.loglik))
        test = {"method": "likelihood_ratio", "statistic": stat, "df": 1, "p": float(special.chdtrc(1, stat)),
                "note": "2 (loglik_quadratic - loglik_linear) of ML mixed-model fits"}
        quadratic = test["p"] < s["alpha"]
        fits_json = {"linear": _lmm_entry(ml_lin, units, fit_y, np.column_stack([np.ones_like(Ec), Ec]), Z,
                                          center, False),
                     "quadratic": _lmm_entry(ml_quad, units, fit_y,
                                             np.column_stack([np.ones_like(Ec), Ec, Ec ** 2]), Z, center, True)}
    else:
        quadratic = s["form"] == "quadratic"
    fit = lmm(quadratic, True)
    X_fit = np.column_stack([np.ones_like(Ec), _design(Ec, None, quadratic)])
    entry = _lmm_entry(fit, units, fit_y, X_fit, Z, center, quadratic)
    E_all = units.E - center
    X_all = np.column_stack([np.ones_like(E_all), _design(E_all, None, quadratic)])
    fitted = fit.predict_fixed(X_all)
    line: dict[str, Any] = {
        "form_used": "quadratic" if quadratic else "linear",
        "n": {
            "candidates": units.n_candidates,
            "used": int(len(fit_y)),
            "participants_used": int(n_people),
            "excluded": {**units.excluded, "not_reference": int((~units.reference).sum()),
                         "outliers": int((~keep).sum())},
        },
        "n_lines": 1,
        "line_key": None,
        "form_test": test,
        "outliers": {"method": method, "k": s["k"], **outlier_info},
        "lines": [entry],
    }
    if fits_json is not None:
        line["fits"] = fits_json
    return fitted, line


def _lmm_entry(fit: Any, units: _Units, y: np.ndarray, X: np.ndarray, Z: np.ndarray, center: float,
               quadratic: bool) -> dict[str, Any]:
    beta = fit.beta[None, :]
    raw, raw_cov = _to_raw_scale(beta, fit.beta_cov[None], np.array([center]), quadratic)
    crit = float(special.ndtri(0.975))
    fixed = X @ fit.beta
    marginal = y - fixed
    var_fixed = float(np.var(fixed))
    # Random-effect variance at each observation: z' Sigma z, averaged (random-slope R2).
    var_random = float(np.mean(np.einsum("na,ab,nb->n", Z, fit.cov_re, Z)))
    total = var_fixed + var_random + fit.sigma ** 2
    yc = y - y.mean()
    z_names = list(fit.z_names)
    return {
        "label": "all",
        "model": "P ~ E + (1 + E | participant)" + (" with E^2 fixed" if quadratic else ""),
        "criterion": fit.criterion,
        "n_used": int(fit.n_obs),
        "n_groups": int(fit.n_groups),
        "E_center": center,
        "coefficients": _coefficient_table(list(fit.x_names), raw[0], np.sqrt(np.diag(raw_cov[0])), crit),
        "coefficients_centered": _coefficient_table(list(fit.x_names), fit.beta, fit.beta_se, crit),
        "ci_method": "normal (Wald)",
        "sigma": float(fit.sigma),
        "random_effects": {
            "sd": {n: float(v) for n, v in zip(z_names, fit.sd_re)},
            "corr": float(fit.corr_re[0, 1]) if len(z_names) > 1 else None,
            "note": f"random slope on E centred at {center:.6g}",
        },
        "r2": float(1 - marginal @ marginal / (yc @ yc)),
        "r2_note": "r2 = 1 - SS(P - fixed prediction) / SS(P); r2_marginal / r2_conditional after "
                   "Nakagawa & Schielzeth with the random-slope variance averaged over observations",
        "r2_marginal": var_fixed / total,
        "r2_conditional": (var_fixed + var_random) / total,
        "r2_adj": None,
        "loglik": float(fit.loglik),
        "aic": float(fit.aic),
        "bic": float(fit.bic),
        "converged": bool(fit.converged),
        "singular": bool(fit.singular),
        "optimizer": getattr(fit, "optimizer", None),
        "warnings": list(fit.warnings),
        "cooks_distance": None,
        "cooks_note": "observation-level Cook's distance is not defined for the mixed model",
        "residual_qq": _qq(marginal / np.std(marginal, ddof=1)),
        "residual_qq_note": "marginal residuals P - fixed prediction (the SR of the fitting rows), standardised",
    }


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def _assemble_table(units: _Units, expected: np.ndarray, sr: np.ndarray, level: str) -> pd.DataFrame:
    codes = units.keys["participant_id"]
    columns: dict[str, Any] = {"participant_id": units.labels.take(codes)}
    for key in _key_columns(level):
        columns[key] = np.asarray(units.keys[key], dtype=np.int64)
    columns["E"] = units.E
    if level == "change":
        columns["P_previous"] = units.offset
    columns.update(P=units.P, P_expected=expected, sr=sr, sr_z=_z(sr))
    table = pd.DataFrame(columns)
    table["participant_id"] = table["participant_id"].astype("str")
    # Units are built in (participant code, key) order and codes follow the sorted
    # participant_id, so the table is already sorted deterministically.
    return table


def _z(values: np.ndarray) -> np.ndarray:
    if len(values) < 2:
        return np.full(len(values), np.nan)
    sd = values.std(ddof=1)
    if not np.isfinite(sd) or sd == 0:
        return np.full(len(values), np.nan)
    return (values - values.mean()) / sd
