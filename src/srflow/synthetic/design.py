"""The design of the synthetic study: items, trajectory classes and latent-model constants.

The numbers are documented in :mod:`srflow.synthetic`; the rest of the package reads them
from here.
"""

from __future__ import annotations

import numpy as np

from srflow.errors import InputError

TRAJECTORY_CLASSES: tuple[str, ...] = ("resilient", "recovery", "chronic", "delayed")
CLASS_SHARES: tuple[float, ...] = (0.55, 0.15, 0.12, 0.18)

PROBLEM_ITEMS: tuple[str, ...] = tuple(f"GHQ_{j:02d}" for j in range(1, 13))
POSITIVE_ITEMS: tuple[str, ...] = ("GHQ_01", "GHQ_03", "GHQ_04", "GHQ_07", "GHQ_08", "GHQ_12")
GENERAL_ITEMS: tuple[str, ...] = tuple(f"GE_{j:02d}" for j in range(1, 12))
LIFE_ITEMS: tuple[str, ...] = tuple(f"LE_{j:02d}" for j in range(1, 26))
MAJOR_LIFE_ITEMS: tuple[str, ...] = LIFE_ITEMS[:5]

GENDERS: tuple[str, ...] = ("female", "male", "diverse")
ARMS: tuple[str, ...] = ("control", "intervention")

# Latent-model constants (documented in srflow.synthetic).
LOW, HIGH = 8.0, 22.0
BASELINE_SD = 2.0
REACTIVITY_MEAN, REACTIVITY_SD = 0.5, 0.2
HASSLE_SHAPE, HASSLE_SCALE = 6.0, 2.0
HASSLE_WAVE_SD = 5.5
MAJOR_EXTRA_HASSLES = 6.0
P_NOISE_SD = 1.0
P_MAX = 36.0
PROBLEM_ITEM_SD = 0.5
GENERAL_ITEM_SD = 0.6
MINOR_SEVERITY = (1, 4)  # inclusive
MAJOR_SEVERITY = (3, 5)  # inclusive
# Fixed item parameters: GHQ item offsets (sum 0) and hassle weights (sum 1).
PROBLEM_OFFSETS = np.linspace(-0.2, 0.2, len(PROBLEM_ITEMS))[
    np.array([3, 9, 0, 6, 11, 1, 8, 4, 10, 2, 7, 5])
]
GENERAL_WEIGHTS = np.array([14, 12, 11, 10, 9, 9, 8, 8, 7, 6, 6], dtype=float)
GENERAL_WEIGHTS /= GENERAL_WEIGHTS.sum()

#: Free-text answers of the messy files (comments, "other hassle", "other life event").
COMMENTS = (
    "all fine",
    "busy week at work, little sleep",
    'my doctor said "take it easy"',
    "moved house\nnew neighbours",
    'answered on the phone, "item 5" unclear',
    "partner ill, kids at home\nfelt overwhelmed, but ok",
    "",
)
GENERAL_OTHER = (
    "traffic every day",
    "noisy neighbours",
    "laptop broke, again",
    "kids sick\nno sleep",
    'bus strike ("again")',
)
LIFE_OTHER = (
    "death of a pet",
    "car accident, nobody hurt",
    'new job ("finally")',
    "burglary\npolice came twice",
)


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
            f"Unknown trajectory class {np.unique(cls[unknown]).tolist()}; "
            f"use one of {list(TRAJECTORY_CLASSES)}."
        )
    span = HIGH - LOW
    return np.select(
        [cls == "resilient", cls == "recovery", cls == "chronic"],
        [
            np.full(np.broadcast(cls, tau).shape, LOW),
            LOW + span * (1 - tau) ** 1.5,
            np.full(np.broadcast(cls, tau).shape, HIGH),
        ],
        default=LOW + span * tau**1.5,
    )


def class_curves_by_code(waves: int) -> np.ndarray:
    """Class curves as a (n_classes, waves) array, in the order of TRAJECTORY_CLASSES."""
    tau = np.zeros(waves) if waves == 1 else np.linspace(0.0, 1.0, waves)
    return np.stack([class_curve(name, tau) for name in TRAJECTORY_CLASSES])


def expected_exposure(minor_event_rate: float, major_event_rate: float) -> float:
    """Expected E per wave under the settings (the constant E is centred on)."""
    minor = minor_event_rate * np.mean(np.arange(MINOR_SEVERITY[0], MINOR_SEVERITY[1] + 1))
    major = major_event_rate * np.mean(np.arange(MAJOR_SEVERITY[0], MAJOR_SEVERITY[1] + 1))
    return float(
        HASSLE_SHAPE * HASSLE_SCALE + major_event_rate * MAJOR_EXTRA_HASSLES + minor + major
    )


def participant_ids(participants: int) -> np.ndarray:
    """Ids "S0001", ... zero padded to at least 4 digits."""
    width = max(4, len(str(participants)))
    numbers = np.arange(1, participants + 1).astype(str)
    return np.char.add("S", np.char.zfill(numbers, width))
