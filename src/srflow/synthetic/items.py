"""Item responses given the latent truth, and the blank cells of the released data.

Like :mod:`srflow.synthetic.latent`, each function draws from the cohort's one generator in
a fixed order.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from srflow.synthetic.design import (
    GENERAL_ITEM_SD,
    GENERAL_ITEMS,
    GENERAL_WEIGHTS,
    LIFE_ITEMS,
    POSITIVE_ITEMS,
    PROBLEM_ITEM_SD,
    PROBLEM_ITEMS,
    PROBLEM_OFFSETS,
)


@dataclasses.dataclass
class Responses:
    """GHQ and hassle items (items x N x T, int8) and their complete-data sums (N x T)."""

    problem: np.ndarray  # positively worded items stored raw (higher = better)
    general: np.ndarray
    p_full: np.ndarray  # GHQ sum after reversing, before blanking
    e_general_full: np.ndarray  # hassle sum before blanking


@dataclasses.dataclass
class Blanks:
    """Blank cells (items x N x T, bool) of each questionnaire."""

    problem: np.ndarray
    general: np.ndarray
    life: np.ndarray


def draw_responses(
    rng: np.random.Generator, p_latent: np.ndarray, hassles: np.ndarray
) -> Responses:
    """GHQ items from ``P_latent`` and hassle items from ``H_it``, rounded and clipped."""
    n, n_waves = p_latent.shape
    problem = np.clip(
        np.rint(
            p_latent[None] / len(PROBLEM_ITEMS)
            + PROBLEM_OFFSETS[:, None, None]
            + rng.normal(0.0, PROBLEM_ITEM_SD, (len(PROBLEM_ITEMS), n, n_waves))
        ),
        0,
        3,
    ).astype(np.int8)
    general = np.clip(
        np.rint(
            hassles[None] * GENERAL_WEIGHTS[:, None, None]
            + rng.normal(0.0, GENERAL_ITEM_SD, (len(GENERAL_ITEMS), n, n_waves))
        ),
        0,
        5,
    ).astype(np.int8)
    p_full = problem.sum(axis=0, dtype=np.int64)
    e_general_full = general.sum(axis=0, dtype=np.int64)
    positive = np.isin(PROBLEM_ITEMS, POSITIVE_ITEMS)
    problem[positive] = 3 - problem[positive]  # stored raw: higher = better
    return Responses(problem=problem, general=general, p_full=p_full, e_general_full=e_general_full)


def draw_blanks(
    rng: np.random.Generator,
    n: int,
    n_waves: int,
    missing_item_rate: float,
    missing_questionnaire_rate: float,
    partial_problem_rate: float,
) -> Blanks:
    """Whole GHQ questionnaires, 1-2 GHQ items, and single cells left blank."""
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
    return Blanks(problem=problem_blank, general=general_blank, life=life_blank)


def draw_extra_items(
    rng: np.random.Generator, p_latent: np.ndarray, n_extra_items: int, missing_item_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Extra 1-5 Likert items loading weakly on ``P_latent``, and their blanks.

    Drawn last, so that adding them leaves every other draw unchanged.
    """
    n, n_waves = p_latent.shape
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
    return extra, extra_blank
