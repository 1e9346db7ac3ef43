"""The latent truth: people, stressors, the latent problem level and dropout.

Each function takes the one random generator of the cohort and draws in a fixed order;
:func:`srflow.synthetic.simulate_cohort` calls them in sequence, so the stream of draws
(and hence every output) is fixed by the seed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from srflow.synthetic.design import (
    BASELINE_SD,
    GENDERS,
    HASSLE_SCALE,
    HASSLE_SHAPE,
    HASSLE_WAVE_SD,
    LIFE_ITEMS,
    MAJOR_EXTRA_HASSLES,
    MAJOR_LIFE_ITEMS,
    MAJOR_SEVERITY,
    MINOR_SEVERITY,
    P_MAX,
    P_NOISE_SD,
    REACTIVITY_MEAN,
    REACTIVITY_SD,
    TRAJECTORY_CLASSES,
    class_curves_by_code,
    expected_exposure,
)


@dataclasses.dataclass
class People:
    """What is drawn once per participant (arrays of length N; ``day`` is N x T)."""

    class_code: np.ndarray  # index into TRAJECTORY_CLASSES
    baseline: np.ndarray
    reactivity: np.ndarray  # true random E slope b_i
    hassle_level: np.ndarray  # background hassle level h_i
    age: np.ndarray
    gender_code: np.ndarray  # index into GENDERS
    arm_code: np.ndarray  # index into ARMS
    day: np.ndarray  # assessment day of each wave, counted from the first day


@dataclasses.dataclass
class Stressors:
    """Per-wave exposure (N x T; ``life`` is items x N x T)."""

    life: np.ndarray  # severity of each life event item (0 = did not happen)
    e_life: np.ndarray  # severity sum of the life events
    hassles: np.ndarray  # hassle level H_it
    e_latent: np.ndarray  # H_it + E_life


def draw_people(
    rng: np.random.Generator,
    n: int,
    n_waves: int,
    shares: np.ndarray,
    interval_days: int,
    interval_jitter: int,
) -> People:
    """Trajectory class, baseline, reactivity, hassle level, covariates and assessment days."""
    class_code = rng.choice(len(TRAJECTORY_CLASSES), size=n, p=shares)
    baseline = rng.normal(0.0, BASELINE_SD, n)
    reactivity = rng.normal(REACTIVITY_MEAN, REACTIVITY_SD, n)
    hassle_level = rng.gamma(HASSLE_SHAPE, HASSLE_SCALE, n)
    age = np.clip(np.rint(rng.normal(45.0, 15.0, n)), 18, 80).astype(np.int64)
    gender_code = rng.choice(len(GENDERS), size=n, p=[0.50, 0.47, 0.03])
    arm_code = rng.permutation(np.arange(n) % 2)  # exactly balanced up to one
    first_day = rng.integers(0, 365, n)
    steps = interval_days + rng.integers(-interval_jitter, interval_jitter + 1, (n, n_waves))
    steps[:, 0] = first_day
    return People(
        class_code=class_code,
        baseline=baseline,
        reactivity=reactivity,
        hassle_level=hassle_level,
        age=age,
        gender_code=gender_code,
        arm_code=arm_code,
        day=np.cumsum(steps, axis=1),
    )


def draw_stressors(
    rng: np.random.Generator,
    people: People,
    n_waves: int,
    major_event_rate: float,
    minor_event_rate: float,
) -> Stressors:
    """Life events (major ones bring extra hassles) and the hassle level of every wave."""
    n = len(people.baseline)
    n_minor = len(LIFE_ITEMS) - len(MAJOR_LIFE_ITEMS)
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
                MAJOR_SEVERITY[0],
                MAJOR_SEVERITY[1] + 1,
                (len(MAJOR_LIFE_ITEMS), n, n_waves),
                dtype=np.int8,
            ),
            rng.integers(
                MINOR_SEVERITY[0], MINOR_SEVERITY[1] + 1, (n_minor, n, n_waves), dtype=np.int8
            ),
        ]
    )
    np.copyto(life, severity, where=happened)
    del severity
    any_major = happened[: len(MAJOR_LIFE_ITEMS)].any(axis=0)
    del happened
    e_life = life.sum(axis=0, dtype=np.int64)
    hassles = np.maximum(
        0.0,
        people.hassle_level[:, None]
        + rng.normal(0.0, HASSLE_WAVE_SD, (n, n_waves))
        + MAJOR_EXTRA_HASSLES * any_major,
    )
    return Stressors(life=life, e_life=e_life, hassles=hassles, e_latent=hassles + e_life)


def draw_problem_level(
    rng: np.random.Generator,
    people: People,
    stressors: Stressors,
    major_event_rate: float,
    minor_event_rate: float,
) -> np.ndarray:
    """``P_latent`` (N x T): class curve + baseline + reactivity x centred E + noise, clipped."""
    n, n_waves = stressors.e_latent.shape
    curves = class_curves_by_code(n_waves)[people.class_code]
    e_mean = expected_exposure(minor_event_rate, major_event_rate)
    return np.clip(
        curves
        + people.baseline[:, None]
        + people.reactivity[:, None] * (stressors.e_latent - e_mean)
        + rng.normal(0.0, P_NOISE_SD, (n, n_waves)),
        0.0,
        P_MAX,
    )


def draw_dropout(rng: np.random.Generator, p_latent: np.ndarray, dropout: float) -> np.ndarray:
    """Who is still in the study (N x T): monotone dropout, MAR on the previous problem level."""
    n, n_waves = p_latent.shape
    present = np.ones((n, n_waves), dtype=bool)
    for wave_index in range(1, n_waves):  # waves only: each step is vectorised over people
        hazard = np.clip(dropout * (0.5 + p_latent[:, wave_index - 1] / 20.0), 0.0, 1.0)
        present[:, wave_index] = present[:, wave_index - 1] & (rng.random(n) >= hazard)
    return present
