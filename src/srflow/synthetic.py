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

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from srflow.errors import InputError

__all__ = [
    "TRAJECTORY_CLASSES",
    "CLASS_SHARES",
    "PROBLEM_ITEMS",
    "POSITIVE_ITEMS",
    "GENERAL_ITEMS",
    "LIFE_ITEMS",
    "MAJOR_LIFE_ITEMS",
    "class_curve",
    "simulate_cohort",
    "write_cohort",
]

TRAJECTORY_CLASSES: tuple[str, ...] = ("resilient", "recovery", "chronic", "delayed")
CLASS_SHARES: tuple[float, ...] = (0.55, 0.15, 0.12, 0.18)

PROBLEM_ITEMS: tuple[str, ...] = tuple(f"GHQ_{j:02d}" for j in range(1, 13))
POSITIVE_ITEMS: tuple[str, ...] = ("GHQ_01", "GHQ_03", "GHQ_04", "GHQ_07", "GHQ_08", "GHQ_12")
GENERAL_ITEMS: tuple[str, ...] = tuple(f"GE_{j:02d}" for j in range(1, 12))
LIFE_ITEMS: tuple[str, ...] = tuple(f"LE_{j:02d}" for j in range(1, 26))
MAJOR_LIFE_ITEMS: tuple[str, ...] = LIFE_ITEMS[:5]

GENDERS: tuple[str, ...] = ("female", "male", "diverse")
ARMS: tuple[str, ...] = ("control", "intervention")

# Latent-model constants (documented in the module docstring).
_LOW, _HIGH = 8.0, 22.0
_BASELINE_SD = 2.0
_REACTIVITY_MEAN, _REACTIVITY_SD = 0.5, 0.2
_HASSLE_SHAPE, _HASSLE_SCALE = 6.0, 2.0
_HASSLE_WAVE_SD = 5.5
_MAJOR_EXTRA_HASSLES = 6.0
_P_NOISE_SD = 1.0
_P_MAX = 36.0
_PROBLEM_ITEM_SD = 0.5
_GENERAL_ITEM_SD = 0.6
_MINOR_SEVERITY = (1, 4)  # inclusive
_MAJOR_SEVERITY = (3, 5)  # inclusive
# Fixed item parameters: GHQ item offsets (sum 0) and hassle weights (sum 1).
_PROBLEM_OFFSETS = np.linspace(-0.2, 0.2, len(PROBLEM_ITEMS))[np.array([3, 9, 0, 6, 11, 1, 8, 4, 10, 2, 7, 5])]
_GENERAL_WEIGHTS = np.array([14, 12, 11, 10, 9, 9, 8, 8, 7, 6, 6], dtype=float)
_GENERAL_WEIGHTS /= _GENERAL_WEIGHTS.sum()

_FIRST_DAY = np.datetime64("2021-01-01", "D")
_FIXED_FILE_TIME = dt.datetime(2021, 1, 1, 0, 0, 0)


def class_curve(trajectory_class: str | np.ndarray, tau: float | np.ndarray) -> np.ndarray:
    """Latent problem level of a trajectory class at normalised time ``tau``.

    Parameters
    ----------
    trajectory_class : str or array of str
        One of :data:`TRAJECTORY_CLASSES` (or an array of them).
    tau : float or array
        Normalised time in [0, 1]: 0 at the first wave, 1 at the last.

    Returns
    -------
    numpy.ndarray
        Curve value on the 0..36 GHQ-sum scale, broadcast over the inputs.
    """
    cls = np.asarray(trajectory_class)
    tau = np.clip(np.asarray(tau, dtype=float), 0.0, 1.0)
    unknown = ~np.isin(cls, TRAJECTORY_CLASSES)
    if np.any(unknown):
        raise InputError(
            f"Unknown trajectory class {np.unique(cls[unknown]).tolist()}; use one of {list(TRAJECTORY_CLASSES)}."
        )
    span = _HIGH - _LOW
    return np.select(
        [cls == "resilient", cls == "recovery", cls == "chronic"],
        [
            np.full(np.broadcast(cls, tau).shape, _LOW),
            _LOW + span * (1 - tau) ** 1.5,
            np.full(np.broadcast(cls, tau).shape, _HIGH),
        ],
        default=_LOW + span * tau**1.5,
    )


def _class_curves_by_code(waves: int) -> np.ndarray:
    """Class curves as a (n_classes, waves) array, in the order of TRAJECTORY_CLASSES."""
    tau = np.zeros(waves) if waves == 1 else np.linspace(0.0, 1.0, waves)
    return np.stack([class_curve(name, tau) for name in TRAJECTORY_CLASSES])


def _expected_exposure(minor_event_rate: float, major_event_rate: float) -> float:
    """Expected E per wave under the settings (the constant E is centred on)."""
    minor = minor_event_rate * np.mean(np.arange(_MINOR_SEVERITY[0], _MINOR_SEVERITY[1] + 1))
    major = major_event_rate * np.mean(np.arange(_MAJOR_SEVERITY[0], _MAJOR_SEVERITY[1] + 1))
    return float(_HASSLE_SHAPE * _HASSLE_SCALE + major_event_rate * _MAJOR_EXTRA_HASSLES + minor + major)


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{name} must be a probability between 0 and 1, got {value!r}.")


def _participant_ids(participants: int) -> np.ndarray:
    width = max(4, len(str(participants)))
    numbers = np.arange(1, participants + 1).astype(str)
    return np.char.add("S", np.char.zfill(numbers, width))


def simulate_cohort(
    participants: int,
    waves: int,
    seed: int,
    *,
    items: bool = True,
    dropout: float = 0.04,
    missing_item_rate: float = 0.02,
    missing_questionnaire_rate: float = 0.01,
    partial_problem_rate: float = 0.03,
    major_event_rate: float = 0.08,
    minor_event_rate: float = 0.4,
    n_extra_items: int = 0,
    interval_days: int = 28,
    interval_jitter: int = 3,
    class_shares: tuple[float, float, float, float] = CLASS_SHARES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a longitudinal cohort with known latent truth.

    The latent model and the item model are described in the module docstring.
    Everything is vectorised over participants (only waves are looped over), so
    100,000 participants x 10 waves take a few seconds.

    Parameters
    ----------
    participants : int
        Number of participants N (>= 1). Ids are ``"S0001"``, ... (zero padded
        to at least 4 digits).
    waves : int
        Number of planned waves T (>= 1).
    seed : int
        Seed of ``numpy.random.default_rng``; the same arguments give identical
        output.
    items : bool, default True
        Include the item columns in ``data``. With False only ids, waves, dates
        and covariates are returned (the truth still holds the latent values and
        the complete-data sums).
    dropout : float, default 0.04
        Base per-wave probability of leaving the study after wave 1 (monotone);
        scaled by ``0.5 + P_latent(previous wave) / 20``.
    missing_item_rate : float, default 0.02
        Probability that any single item cell is blank.
    missing_questionnaire_rate : float, default 0.01
        Share of rows where all 12 GHQ items are blank.
    partial_problem_rate : float, default 0.03
        Share of rows where 1 or 2 GHQ items are blank.
    major_event_rate : float, default 0.08
        Expected number of major life events (LE_01..LE_05) per participant and wave.
    minor_event_rate : float, default 0.4
        Expected number of minor life events (LE_06..LE_25) per participant and wave.
    n_extra_items : int, default 0
        Number of extra 1-5 Likert items ``Q_001``, ... (for wide benchmarks);
        they load weakly on ``P_latent`` and are not part of any truth score.
    interval_days : int, default 28
        Planned days between consecutive assessments.
    interval_jitter : int, default 3
        Each interval is ``interval_days`` plus a uniform integer in
        ``[-interval_jitter, interval_jitter]``; must be < ``interval_days`` so
        dates increase strictly.
    class_shares : tuple of 4 floats
        Shares of resilient, recovery, chronic, delayed (normalised to sum 1).

    Returns
    -------
    data : pandas.DataFrame
        Long layout, one row per (participant, wave) still in the study, sorted
        by participant and wave. Columns: ``subject_id`` (str), ``wave`` (int,
        1..T), ``date`` (str, YYYY-MM-DD), ``age`` (int), ``gender``
        (category: female, male, diverse), ``arm`` (str: control,
        intervention), then GHQ_01..GHQ_12 (0-3, positively worded items raw),
        GE_01..GE_11 (0-5), LE_01..LE_25 (0-5) and Q_001.. (1-5) as nullable
        ``Int64`` with ``<NA>`` for blanks.
    truth : pandas.DataFrame
        Same rows in the same order. Columns: ``participant_id``, ``wave``,
        ``trajectory_class``, ``baseline``, ``reactivity`` (true b_i),
        ``P_latent``, ``E_latent``, ``P_full`` (sum of the 12 GHQ items after
        reversing, before blanking), ``E_general_full``, ``E_life_full``
        (item sums before blanking) and ``n_missing_problem_items``,
        ``n_missing_general_items``, ``n_missing_life_items`` (blanks in the
        released data).

    Raises
    ------
    InputError
        If a count is below 1 or a rate is outside [0, 1].
    """
    if participants < 1 or waves < 1:
        raise InputError(f"Need at least 1 participant and 1 wave, got participants={participants}, waves={waves}.")
    for name, value in [
        ("dropout", dropout),
        ("missing_item_rate", missing_item_rate),
        ("missing_questionnaire_rate", missing_questionnaire_rate),
        ("partial_problem_rate", partial_problem_rate),
    ]:
        _check_rate(name, value)
    if major_event_rate < 0 or major_event_rate > len(MAJOR_LIFE_ITEMS):
        raise InputError(f"major_event_rate must be between 0 and {len(MAJOR_LIFE_ITEMS)}, got {major_event_rate!r}.")
    n_minor = len(LIFE_ITEMS) - len(MAJOR_LIFE_ITEMS)
    if minor_event_rate < 0 or minor_event_rate > n_minor:
        raise InputError(f"minor_event_rate must be between 0 and {n_minor}, got {minor_event_rate!r}.")
    if n_extra_items < 0 or n_extra_items > 999:
        raise InputError(f"n_extra_items must be between 0 and 999, got {n_extra_items!r}.")
    if interval_days < 1 or not 0 <= interval_jitter < interval_days:
        raise InputError(
            f"Need interval_days >= 1 and 0 <= interval_jitter < interval_days so dates increase; "
            f"got interval_days={interval_days}, interval_jitter={interval_jitter}."
        )
    shares = np.asarray(class_shares, dtype=float)
    if shares.shape != (len(TRAJECTORY_CLASSES),) or np.any(shares < 0) or shares.sum() <= 0:
        raise InputError(
            f"class_shares must be 4 non-negative numbers (resilient, recovery, chronic, delayed), got {class_shares!r}."
        )
    shares = shares / shares.sum()

    rng = np.random.default_rng(seed)
    n, n_waves = int(participants), int(waves)

    # --- person level -------------------------------------------------------
    class_code = rng.choice(len(TRAJECTORY_CLASSES), size=n, p=shares)
    baseline = rng.normal(0.0, _BASELINE_SD, n)
    reactivity = rng.normal(_REACTIVITY_MEAN, _REACTIVITY_SD, n)
    hassle_level = rng.gamma(_HASSLE_SHAPE, _HASSLE_SCALE, n)
    age = np.clip(np.rint(rng.normal(45.0, 15.0, n)), 18, 80).astype(np.int64)
    gender_code = rng.choice(len(GENDERS), size=n, p=[0.50, 0.47, 0.03])
    arm_code = rng.permutation(np.arange(n) % 2)  # exactly balanced up to one
    first_day = rng.integers(0, 365, n)
    steps = interval_days + rng.integers(-interval_jitter, interval_jitter + 1, (n, n_waves))
    steps[:, 0] = first_day
    day = np.cumsum(steps, axis=1)

    # --- stressors ------------------------------------------------------------
    major_p = major_event_rate / len(MAJOR_LIFE_ITEMS)
    minor_p = minor_event_rate / n_minor
    life = np.zeros((len(LIFE_ITEMS), n, n_waves), dtype=np.int8)
    happened = (
        rng.random((len(LIFE_ITEMS), n, n_waves))
        < np.r_[np.full(len(MAJOR_LIFE_ITEMS), major_p), np.full(n_minor, minor_p)][:, None, None]
    )
    severity = np.concatenate(
        [
            rng.integers(
                _MAJOR_SEVERITY[0], _MAJOR_SEVERITY[1] + 1, (len(MAJOR_LIFE_ITEMS), n, n_waves), dtype=np.int8
            ),
            rng.integers(_MINOR_SEVERITY[0], _MINOR_SEVERITY[1] + 1, (n_minor, n, n_waves), dtype=np.int8),
        ]
    )
    np.copyto(life, severity, where=happened)
    del severity
    any_major = happened[: len(MAJOR_LIFE_ITEMS)].any(axis=0)
    del happened
    e_life = life.sum(axis=0, dtype=np.int64)
    hassles = np.maximum(
        0.0,
        hassle_level[:, None] + rng.normal(0.0, _HASSLE_WAVE_SD, (n, n_waves)) + _MAJOR_EXTRA_HASSLES * any_major,
    )
    e_latent = hassles + e_life

    # --- problems ---------------------------------------------------------------
    curves = _class_curves_by_code(n_waves)[class_code]
    e_mean = _expected_exposure(minor_event_rate, major_event_rate)
    p_latent = np.clip(
        curves
        + baseline[:, None]
        + reactivity[:, None] * (e_latent - e_mean)
        + rng.normal(0.0, _P_NOISE_SD, (n, n_waves)),
        0.0,
        _P_MAX,
    )
    problem = np.clip(
        np.rint(
            p_latent[None] / len(PROBLEM_ITEMS)
            + _PROBLEM_OFFSETS[:, None, None]
            + rng.normal(0.0, _PROBLEM_ITEM_SD, (len(PROBLEM_ITEMS), n, n_waves))
        ),
        0,
        3,
    ).astype(np.int8)
    general = np.clip(
        np.rint(
            hassles[None] * _GENERAL_WEIGHTS[:, None, None]
            + rng.normal(0.0, _GENERAL_ITEM_SD, (len(GENERAL_ITEMS), n, n_waves))
        ),
        0,
        5,
    ).astype(np.int8)
    p_full = problem.sum(axis=0, dtype=np.int64)
    e_general_full = general.sum(axis=0, dtype=np.int64)
    e_life_full = e_life
    positive = np.isin(PROBLEM_ITEMS, POSITIVE_ITEMS)
    problem[positive] = 3 - problem[positive]  # stored raw: higher = better

    # --- dropout (monotone, MAR on the previous problem level) ---------------------
    present = np.ones((n, n_waves), dtype=bool)
    for wave_index in range(1, n_waves):
        hazard = np.clip(dropout * (0.5 + p_latent[:, wave_index - 1] / 20.0), 0.0, 1.0)
        present[:, wave_index] = present[:, wave_index - 1] & (rng.random(n) >= hazard)

    # --- blanks ------------------------------------------------------------------
    questionnaire_blank = rng.random((n, n_waves)) < missing_questionnaire_rate
    partial = (rng.random((n, n_waves)) < partial_problem_rate) & ~questionnaire_blank
    n_partial = rng.integers(1, 3, (n, n_waves))
    # 1-2 distinct items per partial row: rank random keys and blank the lowest ranks.
    item_rank = rng.random((len(PROBLEM_ITEMS), n, n_waves)).argsort(axis=0).argsort(axis=0)
    problem_blank = (
        questionnaire_blank[None]
        | (partial[None] & (item_rank < n_partial[None]))
        | (rng.random((len(PROBLEM_ITEMS), n, n_waves)) < missing_item_rate)
    )
    del item_rank
    general_blank = rng.random((len(GENERAL_ITEMS), n, n_waves)) < missing_item_rate
    life_blank = rng.random((len(LIFE_ITEMS), n, n_waves)) < missing_item_rate

    # Extra items come last so that adding them leaves every other draw unchanged.
    extra = extra_blank = None
    if n_extra_items:
        loading = np.linspace(0.3, 1.2, n_extra_items)
        extra = np.clip(
            np.rint(
                3.0
                + loading[:, None, None] * (p_latent[None] - 12.0) / 8.0
                + rng.normal(0.0, 0.9, (n_extra_items, n, n_waves))
            ),
            1,
            5,
        ).astype(np.int8)
        extra_blank = rng.random((n_extra_items, n, n_waves)) < missing_item_rate

    # --- assemble long tables -------------------------------------------------------
    keep = present.ravel()
    rows = int(keep.sum())
    person_of_row = np.repeat(np.arange(n), n_waves)[keep]
    wave_of_row = np.tile(np.arange(1, n_waves + 1), n)[keep]
    ids = _participant_ids(n)[person_of_row]
    dates = (_FIRST_DAY + day.ravel()[keep].astype("timedelta64[D]")).astype(str)

    def flat(values: np.ndarray) -> np.ndarray:
        return values.reshape(values.shape[0], -1)[:, keep] if values.ndim == 3 else values.ravel()[keep]

    columns: dict[str, object] = {
        "subject_id": pd.array(ids, dtype="str"),
        "wave": wave_of_row.astype(np.int64),
        "date": pd.array(dates, dtype="str"),
        "age": age[person_of_row],
        "gender": pd.Categorical.from_codes(gender_code[person_of_row], categories=list(GENDERS)),
        "arm": pd.array(np.asarray(ARMS)[arm_code[person_of_row]], dtype="str"),
    }
    if items:
        blocks = [
            (PROBLEM_ITEMS, problem, problem_blank),
            (GENERAL_ITEMS, general, general_blank),
            (LIFE_ITEMS, life, life_blank),
        ]
        if extra is not None:
            blocks.append((tuple(f"Q_{j:03d}" for j in range(1, n_extra_items + 1)), extra, extra_blank))
        for names, values, blank in blocks:
            flat_values = flat(values).astype(np.int64)
            flat_blank = flat(blank)
            for k, name in enumerate(names):
                columns[name] = pd.arrays.IntegerArray(flat_values[k], flat_blank[k].copy())
    data = pd.DataFrame(columns, index=pd.RangeIndex(rows))

    truth = pd.DataFrame(
        {
            "participant_id": columns["subject_id"],
            "wave": wave_of_row.astype(np.int64),
            "trajectory_class": pd.array(np.asarray(TRAJECTORY_CLASSES)[class_code[person_of_row]], dtype="str"),
            "baseline": baseline[person_of_row],
            "reactivity": reactivity[person_of_row],
            "P_latent": flat(p_latent),
            "E_latent": flat(e_latent),
            "P_full": flat(p_full),
            "E_general_full": flat(e_general_full),
            "E_life_full": flat(e_life_full),
            "n_missing_problem_items": flat(problem_blank).sum(axis=0).astype(np.int64),
            "n_missing_general_items": flat(general_blank).sum(axis=0).astype(np.int64),
            "n_missing_life_items": flat(life_blank).sum(axis=0).astype(np.int64),
        },
        index=pd.RangeIndex(rows),
    )
    return data, truth


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------

_GENDER_CODES = {name: code for code, name in enumerate(GENDERS, start=1)}
_COMMENTS = (
    "all fine",
    "busy week at work, little sleep",
    'my doctor said "take it easy"',
    "moved house\nnew neighbours",
    'answered on the phone, "item 5" unclear',
    "partner ill, kids at home\nfelt overwhelmed, but ok",
    "",
)
_GENERAL_OTHER = (
    "traffic every day",
    "noisy neighbours",
    "laptop broke, again",
    "kids sick\nno sleep",
    'bus strike ("again")',
)
_LIFE_OTHER = ("death of a pet", "car accident, nobody hurt", 'new job ("finally")', "burglary\npolice came twice")


def _problem_label(item: str) -> str:
    number = int(item.split("_")[1])
    direction = "positively worded, stored raw: higher = better" if item in POSITIVE_ITEMS else "higher = more problems"
    return f"GHQ-12-like item {number} (0-3, {direction})"


def _variable_labels(columns: list[str]) -> dict[str, str]:
    labels = {
        "subject_id": "Participant identifier",
        "wave": "Assessment wave (1 = baseline)",
        "date": "Assessment date",
        "age": "Age in years at baseline",
        "gender": "Gender",
        "arm": "Study arm",
    }
    for column in columns:
        if column in PROBLEM_ITEMS:
            labels[column] = _problem_label(column)
        elif column in GENERAL_ITEMS:
            labels[column] = f"Daily hassle {int(column[3:])}: severity 0-5 (0 = did not happen)"
        elif column in LIFE_ITEMS:
            kind = "major life event" if column in MAJOR_LIFE_ITEMS else "life event"
            labels[column] = f"{kind.capitalize()} {int(column[3:])}: severity 0-5 (0 = did not happen)"
    return {column: labels[column] for column in columns if column in labels}


def _item_columns(data: pd.DataFrame) -> list[str]:
    return [c for c in data.columns if c.startswith(("GHQ_", "GE_", "LE_", "Q_"))]


def _write_csv(frame: pd.DataFrame, path: Path, **kwargs) -> None:
    frame.to_csv(path, lineterminator="\n", **kwargs)


def _fix_sav_timestamp(path: Path) -> None:
    """Overwrite the creation date/time that ReadStat stamps into the SAV header.

    The header is: record type (4 bytes), product name (60), layout code,
    nominal case size, compression, weight index, case count (4 each) and the
    bias (8), then creation date ``dd mmm yy`` (9) and time ``hh:mm:ss`` (8).
    """
    raw = bytearray(path.read_bytes())
    if raw[:4] != b"$FL2":
        raise InputError(f"{path} is not an SPSS system file; cannot fix its timestamp.")
    raw[92:101] = b"01 Jan 21"  # literal, not strftime("%b"), which follows the locale
    raw[101:109] = b"00:00:00"
    path.write_bytes(bytes(raw))


def _normalise_xlsx(path: Path) -> None:
    """Make an openpyxl workbook byte-reproducible: fixed document times and zip entry times."""
    stamp = _FIXED_FILE_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path) as source:
        entries = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, content in entries:
            if name == "docProps/core.xml":
                text = content.decode("utf-8")
                text = re.sub(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)", rf"\g<1>{stamp}\g<3>", text)
                content = text.encode("utf-8")
            info = zipfile.ZipInfo(name, date_time=_FIXED_FILE_TIME.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            target.writestr(info, content)
    path.write_bytes(buffer.getvalue())


def _wide(data: pd.DataFrame) -> pd.DataFrame:
    """Wide layout: subject_id, age, gender, arm, then per wave every item and the date as ``{name}_t{wave}``."""
    items = _item_columns(data)
    persons = data.drop_duplicates("subject_id")[["subject_id", "age", "gender", "arm"]].set_index("subject_id")
    per_wave = data.pivot(index="subject_id", columns="wave", values=[*items, "date"])
    waves = sorted(data["wave"].unique())
    ordered = [(name, wave) for wave in waves for name in [*items, "date"]]
    per_wave = per_wave[ordered]
    per_wave.columns = [f"{name}_t{wave}" for name, wave in ordered]
    return persons.join(per_wave).reset_index()


def _messy_long(data: pd.DataFrame) -> pd.DataFrame:
    """Typed copy for the statistics-package formats: real dates, float items."""
    out = data.copy()
    out["date"] = pd.to_datetime(out["date"])
    for column in _item_columns(out):
        out[column] = out[column].astype("float64")
    return out


def _write_sav(data: pd.DataFrame, path: Path) -> None:
    import pyreadstat

    frame = _messy_long(data)
    frame["date"] = frame["date"].dt.date
    frame["gender"] = frame["gender"].map(_GENDER_CODES).astype("float64")
    frame["arm"] = frame["arm"].astype(object)
    frame["subject_id"] = frame["subject_id"].astype(object)
    frame["age"] = frame["age"].astype("float64")
    frame["wave"] = frame["wave"].astype("float64")
    pyreadstat.write_sav(
        frame,
        str(path),
        file_label="srflow synthetic cohort",
        column_labels=_variable_labels(list(frame.columns)),
        variable_value_labels={"gender": {float(code): name for name, code in _GENDER_CODES.items()}},
        variable_measure={"gender": "nominal", "arm": "nominal"},
    )
    _fix_sav_timestamp(path)


def _write_dta(data: pd.DataFrame, path: Path) -> None:
    frame = data.copy()
    frame["date"] = pd.to_datetime(frame["date"])
    frame["subject_id"] = frame["subject_id"].astype(object)
    frame["arm"] = frame["arm"].astype(object)
    frame["wave"] = frame["wave"].astype(np.int16)
    frame["age"] = frame["age"].astype(np.int16)
    for column in _item_columns(frame):
        frame[column] = frame[column].astype("Int8")  # Stata byte with "." for blanks
    frame.to_stata(
        path,
        write_index=False,
        version=118,
        time_stamp=_FIXED_FILE_TIME,
        data_label="srflow synthetic cohort",
        variable_labels=_variable_labels(list(frame.columns)),
        convert_dates={"date": "td"},
    )


def _write_xlsx(data: pd.DataFrame, path: Path) -> None:
    data.to_excel(path, sheet_name="cohort", index=False, engine="openpyxl")
    _normalise_xlsx(path)


def _dirty(data: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Inject faults into a long table; return (dirty table as strings, fault list).

    Fault rows are 1-based data rows of the written file (header not counted;
    a record with an embedded line break still counts as one row).
    """
    rng = np.random.default_rng([seed, 2])
    frame = pd.DataFrame({c: data[c].astype("string").fillna("").astype(object) for c in data.columns})
    faults: list[dict[str, object]] = []

    def add(row_position: int, column: str, value: str, kind: str, expected: str) -> None:
        faults.append(
            {
                "row": row_position + 1,
                "subject_id": frame.at[row_position, "subject_id"],
                "wave": int(frame.at[row_position, "wave"]),
                "column": column,
                "value": value,
                "kind": kind,
                "expected": expected,
            }
        )

    waves_per_person = data.groupby("subject_id", sort=False)["wave"].max()
    long_enough = waves_per_person.index[waves_per_person >= 4].to_numpy()
    dup_person, late_person = rng.choice(long_enough, size=2, replace=False)

    # Duplicate (participant, wave) row: an identical second copy right after the original.
    dup_at = int(np.flatnonzero((data["subject_id"] == dup_person).to_numpy() & (data["wave"] == 2).to_numpy())[0])
    frame = pd.concat([frame.iloc[: dup_at + 1], frame.iloc[[dup_at]], frame.iloc[dup_at + 1 :]], ignore_index=True)

    # Free text (after the duplicate so the copy carries the same comment as the original by construction).
    n_rows = len(frame)
    comment = np.where(
        rng.random(n_rows) < 0.15, np.asarray(_COMMENTS, dtype=object)[rng.integers(0, len(_COMMENTS), n_rows)], ""
    )
    comment[dup_at + 1] = comment[dup_at]
    other_hassle = np.where(
        rng.random(n_rows) < 0.08,
        np.asarray(_GENERAL_OTHER, dtype=object)[rng.integers(0, len(_GENERAL_OTHER), n_rows)],
        "",
    )
    other_hassle[dup_at + 1] = other_hassle[dup_at]
    frame["comment"] = comment
    frame.insert(frame.columns.get_loc("GE_11") + 1, "GE_12", other_hassle)

    # Wave out of order in time: wave 3 dated before wave 2.
    late_rows = np.flatnonzero((frame["subject_id"] == late_person).to_numpy())
    wave2, wave3 = late_rows[1], late_rows[2]
    early = (np.datetime64(frame.at[wave2, "date"]) - np.timedelta64(4, "D")).astype(str)
    frame.at[wave3, "date"] = early

    used = set(np.flatnonzero(frame["subject_id"].isin([dup_person, late_person]).to_numpy()).tolist())
    candidates = np.setdiff1d(np.arange(n_rows), np.fromiter(used, dtype=int))
    picks = rng.choice(candidates, size=12, replace=False)
    picks.sort()
    cell_faults = [
        ("GHQ_05", "7", "out_of_range", "failure"),
        ("GE_03", "-1", "out_of_range", "failure"),
        ("LE_10", "9", "out_of_range", "failure"),
        ("GHQ_02", "-99", "missing_code", "missing"),
        ("GHQ_10", "-99", "missing_code", "missing"),
        ("GE_07", "-99", "missing_code", "missing"),
        ("LE_14", "-99", "missing_code", "missing"),
        ("GHQ_06", "n/a", "non_numeric", "failure"),
    ]
    order = rng.permutation(len(picks))
    for (column, value, kind, expected), position in zip(cell_faults, picks[order[: len(cell_faults)]]):
        frame.at[position, column] = value
    straight = picks[order[len(cell_faults) : len(cell_faults) + 3]]
    for level, position in zip(("0", "1", "3"), straight):
        for item in PROBLEM_ITEMS:
            frame.at[position, item] = level

    # Record faults in file order.
    for (column, value, kind, expected), position in zip(cell_faults, picks[order[: len(cell_faults)]]):
        add(int(position), column, value, kind, expected)
    for level, position in zip(("0", "1", "3"), straight):
        add(int(position), f"{PROBLEM_ITEMS[0]}:{PROBLEM_ITEMS[-1]}", level, "straight_lining", "quality")
    add(dup_at, "subject_id,wave", "", "duplicate_key", "failure")
    add(dup_at + 1, "subject_id,wave", "", "duplicate_key", "failure")
    add(int(wave3), "date", early, "time_order", "failure")
    for position in np.flatnonzero(np.char.find(frame["comment"].to_numpy().astype(str), "\n") >= 0):
        add(int(position), "comment", frame.at[position, "comment"], "embedded_newline", "parse")
    for position in np.flatnonzero(np.char.find(frame["GE_12"].to_numpy().astype(str), "\n") >= 0):
        add(int(position), "GE_12", frame.at[position, "GE_12"], "embedded_newline", "parse")
    structural = [
        {
            "row": pd.NA,
            "subject_id": "",
            "wave": pd.NA,
            "column": "",
            "value": "",
            "kind": "unnamed_index_column",
            "expected": "parse",
        },
        {
            "row": pd.NA,
            "subject_id": "",
            "wave": pd.NA,
            "column": "GE_12",
            "value": "",
            "kind": "prefix_collision",
            "expected": "parse",
        },
    ]
    fault_table = pd.DataFrame(faults).sort_values(["row", "column"], kind="stable")
    fault_table = pd.concat([fault_table, pd.DataFrame(structural)], ignore_index=True)
    fault_table["row"] = fault_table["row"].astype("Int64")
    fault_table["wave"] = fault_table["wave"].astype("Int64")
    frame.index = pd.RangeIndex(1, n_rows + 1)
    return frame, fault_table


def _r_quote(values: pd.Series) -> np.ndarray:
    """Format a text column as R's write.csv does: quoted, inner quotes doubled, NA bare."""
    text = values.astype("string")
    quoted = '"' + text.str.replace('"', '""', regex=False) + '"'
    return quoted.fillna("NA").to_numpy(dtype=object)


def _r_number(values: pd.Series) -> np.ndarray:
    """Format a numeric column as R prints it (no trailing .0), NA bare."""
    numbers = pd.to_numeric(values).astype("Float64")
    is_whole = (numbers.round() == numbers).fillna(False)
    text = pd.Series(
        np.where(is_whole, numbers.round().astype("Int64").astype("string"), numbers.astype("string")), dtype="string"
    )
    return text.where(numbers.notna(), "NA").to_numpy(dtype=object)


def _r_export(seed: int, participants: int = 200, target_columns: int = 196) -> str:
    """An R-style export (write.csv of a data frame that was read with read.csv once before)."""
    fixed = 8 + len(PROBLEM_ITEMS) + len(GENERAL_ITEMS) + 1 + len(LIFE_ITEMS) + 1 + 1
    n_extra = target_columns - fixed
    data, _ = simulate_cohort(
        participants, 6, seed, dropout=0.0, interval_days=7, interval_jitter=2, n_extra_items=n_extra
    )
    rng = np.random.default_rng([seed, 3])
    assessments = rng.integers(4, 7, participants)  # 4-6 weekly assessments each
    person = data["subject_id"].str.slice(1).astype(int).to_numpy() - 1
    data = data.loc[data["wave"].to_numpy() <= assessments[person]].reset_index(drop=True)
    n_rows = len(data)

    def text_column(options: tuple[str, ...], share: float) -> pd.Series:
        chosen = np.asarray(options, dtype=object)[rng.integers(0, len(options), n_rows)]
        return pd.Series(np.where(rng.random(n_rows) < share, chosen, None), dtype="string")

    row_names = pd.Series(np.arange(1, n_rows + 1))
    columns: dict[str, np.ndarray] = {
        "": _r_quote(row_names.astype("string")),
        "X": _r_number(row_names),
        "ID": _r_quote(data["subject_id"]),
        "visit": _r_number(data["wave"]),
        "date": data["date"].to_numpy(dtype=object),  # R writes Date columns unquoted
        "age": _r_number(data["age"]),
        "gender": _r_quote(data["gender"].astype("string")),
        "arm": _r_quote(data["arm"]),
    }
    for item in PROBLEM_ITEMS + GENERAL_ITEMS:
        columns[item] = _r_number(data[item])
    columns["GE_12"] = _r_quote(text_column(_GENERAL_OTHER, 0.1))
    for item in LIFE_ITEMS:
        columns[item] = _r_number(data[item])
    columns["LE_26"] = _r_quote(text_column(_LIFE_OTHER, 0.05))
    columns["comment"] = _r_quote(text_column(tuple(c for c in _COMMENTS if c), 0.12))
    for item in [c for c in data.columns if c.startswith("Q_")]:
        columns[item] = _r_number(data[item])
    if len(columns) != target_columns:
        raise AssertionError(f"r_export has {len(columns)} columns, expected {target_columns}")
    header = ",".join(f'"{name}"' for name in columns)
    body = np.asarray(list(columns.values()), dtype=object).T
    lines = [",".join(row) for row in body]
    return header + "\n" + "\n".join(lines) + "\n"


def write_cohort(
    out: str | Path,
    participants: int = 400,
    waves: int = 8,
    seed: int = 20261121,
    messy: bool = True,
    messy_participants: int = 60,
) -> dict[str, Path]:
    """Simulate a cohort and write it, its truth and (optionally) messy variants.

    Parameters
    ----------
    out : str or Path
        Output folder (created if needed; existing files are overwritten).
    participants, waves, seed : int
        Passed to :func:`simulate_cohort` (default settings otherwise).
    messy : bool, default True
        Also write the messy variants into ``out/messy/``.
    messy_participants : int, default 60
        The wide, SPSS, Stata, Excel, Parquet and dirty files hold the first
        this-many participants of the cohort (keeps the files small).

    Returns
    -------
    dict of str to Path
        ``cohort``, ``truth`` and, with ``messy``, ``wide``, ``sav``, ``dta``,
        ``xlsx``, ``parquet``, ``dirty``, ``dirty_faults``, ``r_export``.

    Notes
    -----
    Every file is byte-identical across runs with the same arguments: the SPSS
    header timestamp and the Excel document/zip timestamps are set to
    2021-01-01 00:00; the Stata timestamp is passed to the writer.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data, truth = simulate_cohort(participants, waves, seed)
    paths = {"cohort": out / "cohort.csv", "truth": out / "truth.csv"}
    _write_csv(data, paths["cohort"], index=False)
    _write_csv(truth, paths["truth"], index=False, float_format="%.4f")
    if not messy:
        return paths

    messy_dir = out / "messy"
    messy_dir.mkdir(exist_ok=True)
    keep_ids = data["subject_id"].drop_duplicates().iloc[:messy_participants]
    subset = data.loc[data["subject_id"].isin(keep_ids)].reset_index(drop=True)
    paths.update(
        {
            "wide": messy_dir / "cohort_wide.csv",
            "sav": messy_dir / "cohort.sav",
            "dta": messy_dir / "cohort.dta",
            "xlsx": messy_dir / "cohort.xlsx",
            "parquet": messy_dir / "cohort.parquet",
            "dirty": messy_dir / "dirty.csv",
            "dirty_faults": messy_dir / "dirty_faults.csv",
            "r_export": messy_dir / "r_export.csv",
        }
    )
    _write_csv(_wide(subset), paths["wide"], index=False)
    _write_sav(subset, paths["sav"])
    _write_dta(subset, paths["dta"])
    _write_xlsx(subset, paths["xlsx"])
    subset.to_parquet(paths["parquet"], index=False, engine="pyarrow")
    dirty, faults = _dirty(subset, seed)
    _write_csv(dirty, paths["dirty"], index=True)
    _write_csv(faults, paths["dirty_faults"], index=False)
    paths["r_export"].write_text(_r_export(seed), encoding="utf-8", newline="\n")
    return paths
