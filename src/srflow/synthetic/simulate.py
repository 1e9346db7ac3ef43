"""Simulate a cohort: the latent truth, the item responses and the long released tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from srflow.errors import InputError
from srflow.synthetic.design import (
    ARMS,
    CLASS_SHARES,
    GENDERS,
    GENERAL_ITEMS,
    LIFE_ITEMS,
    MAJOR_LIFE_ITEMS,
    PROBLEM_ITEMS,
    TRAJECTORY_CLASSES,
    participant_ids,
)
from srflow.synthetic.items import Blanks, Responses, draw_blanks, draw_extra_items, draw_responses
from srflow.synthetic.latent import (
    People,
    Stressors,
    draw_dropout,
    draw_people,
    draw_problem_level,
    draw_stressors,
)
from srflow.synthetic.traits import draw_traits

_FIRST_DAY = np.datetime64("2021-01-01", "D")


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

    The latent model and the item model are described in :mod:`srflow.synthetic`.
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
        ``Int64`` with ``<NA>`` for blanks, and last the baseline traits ``optimism``,
        ``neuroticism``, ``openness`` (T-scores, constant within a participant; see
        :mod:`srflow.synthetic.traits`).
    truth : pandas.DataFrame
        Same rows in the same order. Columns: ``participant_id``, ``wave``,
        ``trajectory_class``, ``baseline``, ``reactivity`` (true b_i),
        ``P_latent``, ``E_latent``, ``P_full`` (sum of the 12 GHQ items after
        reversing, before blanking), ``E_general_full``, ``E_life_full``
        (item sums before blanking) and ``n_missing_problem_items``,
        ``n_missing_general_items``, ``n_missing_life_items`` (blanks in the
        released data), then the traits as in ``data``; their exact effects on
        ``reactivity`` and ``baseline`` are :func:`srflow.synthetic.trait_effects`.

    Raises
    ------
    InputError
        If a count is below 1 or a rate is outside [0, 1].

    Examples
    --------
    >>> data, truth = simulate_cohort(50, 4, seed=7)
    >>> data.shape[0] == truth.shape[0] <= 50 * 4
    True
    >>> list(data.columns[:6])
    ['subject_id', 'wave', 'date', 'age', 'gender', 'arm']
    >>> int(truth["wave"].min()), int(truth["wave"].max()), data["subject_id"].iloc[0]
    (1, 4, 'S0001')

    The true stressor reactivity is drawn from N(0.5, 0.2): 50 people average close to 0.5.

    >>> reactivity = truth.groupby("participant_id")["reactivity"].first()
    >>> len(reactivity), abs(float(reactivity.mean()) - 0.5) < 3 * 0.2 / 50**0.5
    (50, True)
    >>> again, _ = simulate_cohort(50, 4, seed=7)
    >>> again.equals(data)
    True
    """
    shares = _checked_shares(
        participants,
        waves,
        dropout,
        missing_item_rate,
        missing_questionnaire_rate,
        partial_problem_rate,
        major_event_rate,
        minor_event_rate,
        n_extra_items,
        interval_days,
        interval_jitter,
        class_shares,
    )
    rng = np.random.default_rng(seed)
    n, n_waves = int(participants), int(waves)
    # The order of these calls is the order of the random draws: keep it.
    people = draw_people(rng, n, n_waves, shares, interval_days, interval_jitter)
    stressors = draw_stressors(rng, people, n_waves, major_event_rate, minor_event_rate)
    p_latent = draw_problem_level(rng, people, stressors, major_event_rate, minor_event_rate)
    responses = draw_responses(rng, p_latent, stressors.hassles)
    present = draw_dropout(rng, p_latent, dropout)
    blanks = draw_blanks(
        rng, n, n_waves, missing_item_rate, missing_questionnaire_rate, partial_problem_rate
    )
    extra = (
        draw_extra_items(rng, p_latent, n_extra_items, missing_item_rate) if n_extra_items else None
    )
    data, truth = _long_tables(
        people, stressors, p_latent, responses, blanks, extra, present, items
    )
    # Own child stream of the seed: the draws above, and every column they make, are unchanged.
    traits = draw_traits(seed, people.reactivity, people.baseline)
    person_of_row = np.repeat(np.arange(n), n_waves)[present.ravel()]
    for name, values in traits.items():
        data[name] = values[person_of_row]
        truth[name] = values[person_of_row]
    return data, truth


def _checked_shares(
    participants: int,
    waves: int,
    dropout: float,
    missing_item_rate: float,
    missing_questionnaire_rate: float,
    partial_problem_rate: float,
    major_event_rate: float,
    minor_event_rate: float,
    n_extra_items: int,
    interval_days: int,
    interval_jitter: int,
    class_shares: tuple[float, float, float, float],
) -> np.ndarray:
    """Check the arguments of :func:`simulate_cohort`; return the class shares summing to 1."""
    if participants < 1 or waves < 1:
        raise InputError(
            "Need at least 1 participant and 1 wave, "
            f"got participants={participants}, waves={waves}."
        )
    for name, value in [
        ("dropout", dropout),
        ("missing_item_rate", missing_item_rate),
        ("missing_questionnaire_rate", missing_questionnaire_rate),
        ("partial_problem_rate", partial_problem_rate),
    ]:
        _check_rate(name, value)
    if major_event_rate < 0 or major_event_rate > len(MAJOR_LIFE_ITEMS):
        raise InputError(
            f"major_event_rate must be between 0 and {len(MAJOR_LIFE_ITEMS)}, "
            f"got {major_event_rate!r}."
        )
    n_minor = len(LIFE_ITEMS) - len(MAJOR_LIFE_ITEMS)
    if minor_event_rate < 0 or minor_event_rate > n_minor:
        raise InputError(
            f"minor_event_rate must be between 0 and {n_minor}, got {minor_event_rate!r}."
        )
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
            "class_shares must be 4 non-negative numbers (resilient, recovery, chronic, delayed), "
            f"got {class_shares!r}."
        )
    return shares / shares.sum()


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{name} must be a probability between 0 and 1, got {value!r}.")


def _long_tables(
    people: People,
    stressors: Stressors,
    p_latent: np.ndarray,
    responses: Responses,
    blanks: Blanks,
    extra: tuple[np.ndarray, np.ndarray] | None,
    present: np.ndarray,
    items: bool,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The released data and the truth, one row per (participant, wave) still in the study."""
    n, n_waves = p_latent.shape
    keep = present.ravel()
    rows = int(keep.sum())
    person_of_row = np.repeat(np.arange(n), n_waves)[keep]
    wave_of_row = np.tile(np.arange(1, n_waves + 1), n)[keep]
    ids = participant_ids(n)[person_of_row]
    dates = (_FIRST_DAY + people.day.ravel()[keep].astype("timedelta64[D]")).astype(str)

    def flat(values: np.ndarray) -> np.ndarray:
        return (
            values.reshape(values.shape[0], -1)[:, keep]
            if values.ndim == 3
            else values.ravel()[keep]
        )

    columns: dict[str, object] = {
        "subject_id": pd.array(ids, dtype="str"),
        "wave": wave_of_row.astype(np.int64),
        "date": pd.array(dates, dtype="str"),
        "age": people.age[person_of_row],
        "gender": pd.Categorical.from_codes(
            people.gender_code[person_of_row], categories=list(GENDERS)
        ),
        "arm": pd.array(np.asarray(ARMS)[people.arm_code[person_of_row]], dtype="str"),
    }
    if items:
        blocks = [
            (PROBLEM_ITEMS, responses.problem, blanks.problem),
            (GENERAL_ITEMS, responses.general, blanks.general),
            (LIFE_ITEMS, stressors.life, blanks.life),
        ]
        if extra is not None:
            n_extra = extra[0].shape[0]
            blocks.append((tuple(f"Q_{j:03d}" for j in range(1, n_extra + 1)), *extra))
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
            "trajectory_class": pd.array(
                np.asarray(TRAJECTORY_CLASSES)[people.class_code[person_of_row]], dtype="str"
            ),
            "baseline": people.baseline[person_of_row],
            "reactivity": people.reactivity[person_of_row],
            "P_latent": flat(p_latent),
            "E_latent": flat(stressors.e_latent),
            "P_full": flat(responses.p_full),
            "E_general_full": flat(responses.e_general_full),
            "E_life_full": flat(stressors.e_life),
            "n_missing_problem_items": flat(blanks.problem).sum(axis=0).astype(np.int64),
            "n_missing_general_items": flat(blanks.general).sum(axis=0).astype(np.int64),
            "n_missing_life_items": flat(blanks.life).sum(axis=0).astype(np.int64),
        },
        index=pd.RangeIndex(rows),
    )
    return data, truth
