"""Deterministic simulated cohorts for the lme4 agreement harness.

Each dataset ``i`` (0 <= i < N_DATASETS) is drawn from ``numpy.random.default_rng([SEED, i])``
and is fully described by its design matrices: the harness fits ``y ~ 0 + x0 + ... +
(0 + z0 + ... | g)`` in lme4 and ``fit_lmm(y, X, Z, g)`` in srflow, so both see exactly the
same columns (the intercept and treatment-coded dummies are columns of X).

The cohorts span what real ones look like: uncentred covariates on different scales (E
from 0 up to about 100, wave 1..8, a between-person trait from -4 to 4 or around 50),
interactions with E, categorical covariates with 2 to 6 levels (within or between
person), 0 to 2 correlated random slopes of E and wave, 15 to 2,000 participants,
unbalanced waves (dropped at random), and true random-effect structures that are
regular, near-singular (an SD of 1-2% of the residual SD, or a correlation of +/-0.98)
or singular (an SD of exactly 0). Two families copy the defects of issue 11: an
uncentred trait moderating an uncentred E (ML fit of ``E + RF + E:RF + (1 + E | g)``)
and three uncentred random effects ``(1 + E + wave | g)`` on 300 x 8.

``python tests/lme4_harness_data.py OUT_DIR`` writes one CSV per dataset for the R script
``tests/reference/lme4_harness.R``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

SEED = 20261201
N_DATASETS = 300
SIZES = (15, 20, 30, 45, 60, 90, 120, 200, 300, 500, 1000, 2000)
SIZE_WEIGHTS = (6, 6, 8, 8, 10, 10, 10, 10, 8, 6, 3, 2)
FAMILIES = ("general", "general", "general", "trait_moderator", "three_uncentred")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One simulated cohort as design matrices (rows sorted by participant then wave)."""

    index: int
    family: str
    truth: str
    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    groups: np.ndarray
    x_names: list[str]
    z_names: list[str]

    @property
    def checksum(self) -> tuple[int, float]:
        """(rows, sum of y): stored with the lme4 reference to catch drift in the generator."""
        return int(self.y.size), float(np.round(self.y.sum(), 6))


def _waves(
    rng: np.random.Generator, n_people: int, max_waves: int
) -> tuple[np.ndarray, np.ndarray]:
    """Participant index and uncentred wave number (1..max_waves) of every kept row."""
    pid = np.repeat(np.arange(n_people), max_waves)
    wave = np.tile(np.arange(1, max_waves + 1), n_people).astype(float)
    keep = rng.random(pid.size) > rng.choice([0.0, 0.1, 0.25])
    keep[np.arange(n_people) * max_waves] = True  # everyone keeps wave 1
    keep[np.arange(n_people) * max_waves + 1] |= rng.random(n_people) < 0.7
    return pid[keep], wave[keep]


def _random_cov(rng: np.random.Generator, q: int, truth: str, scales: np.ndarray) -> np.ndarray:
    """True covariance of the random effects (intercept first), in units of the columns."""
    sd = rng.uniform(0.3, 1.5, q) / scales
    corr = np.eye(q)
    for a in range(q):
        for b in range(a + 1, q):
            corr[a, b] = corr[b, a] = rng.uniform(-0.6, 0.6)
    if truth == "near_singular":
        j = rng.integers(q)
        if q > 1 and rng.random() < 0.5:
            corr[0, 1] = corr[1, 0] = rng.choice([-0.98, 0.98])
            if q == 3:
                corr[0, 2] = corr[2, 0] = corr[1, 2] = corr[2, 1] = 0.0
        else:
            sd[j] *= rng.uniform(0.01, 0.02)
    elif truth == "singular":
        sd[rng.integers(q)] = 0.0
    return corr * np.outer(sd, sd)


def generate(index: int) -> Dataset:
    """The harness dataset number ``index`` (deterministic)."""
    rng = np.random.default_rng([SEED, index])
    family = FAMILIES[index % len(FAMILIES)]
    truth = ("regular", "regular", "near_singular", "singular")[(index // len(FAMILIES)) % 4]
    if family == "three_uncentred":
        n_people, max_waves = (300 if index % 2 else int(rng.choice(SIZES[2:10]))), 8
    elif family == "trait_moderator":
        n_people, max_waves = (200 if index % 2 else int(rng.choice(SIZES[2:11]))), 6
    else:
        n_people = int(rng.choice(SIZES, p=np.array(SIZE_WEIGHTS) / sum(SIZE_WEIGHTS)))
        max_waves = int(rng.integers(3, 9))
    pid, wave = _waves(rng, n_people, max_waves)
    n = pid.size

    e_scale = rng.choice([1.0, 10.0, 40.0]) if family == "general" else 30.0
    person_e = rng.gamma(2.0, 1.0, n_people)
    exposure = np.clip(e_scale * (0.4 * person_e[pid] + rng.gamma(1.5, 1.0, n) * 0.6) / 2.0, 0, 110)
    exposure = np.round(exposure, 3)
    trait_centre = rng.choice([0.0, 50.0]) if family == "general" else 0.0
    trait = np.round(
        trait_centre + np.clip(rng.normal(0, 1.6, n_people), -4, 4) * (1 + 4 * (trait_centre > 0)),
        3,
    )[pid]

    columns = {"(Intercept)": np.ones(n), "E": exposure}
    if family in ("trait_moderator", "three_uncentred") or rng.random() < 0.6:
        columns["RF"] = trait
        if family == "trait_moderator" or rng.random() < 0.6:
            columns["E:RF"] = exposure * trait
    if family == "three_uncentred" or (family == "general" and rng.random() < 0.4):
        columns["wave"] = wave
    if family == "general" and rng.random() < 0.5:
        n_levels = int(rng.integers(2, 7))
        between = rng.random() < 0.5
        level = (
            rng.integers(n_levels, size=n_people)[pid]
            if between
            else rng.integers(n_levels, size=n)
        )
        level[:n_levels] = np.arange(n_levels)  # every level present
        for k in range(1, n_levels):
            columns[f"cat{k}"] = (level == k).astype(float)
    if family == "trait_moderator":
        slopes = ["E"]
    elif family == "three_uncentred":
        slopes = ["E", "wave"]
    else:
        slopes = [["", "E", "wave"][k] for k in range(int(rng.integers(0, 3)) + 1)][1:]
        if len(slopes) == 1 and rng.random() < 0.3:
            slopes = ["wave"]
    z_columns = {"(Intercept)": np.ones(n), **{name: columns.get(name, wave) for name in slopes}}
    for name in slopes:
        columns.setdefault(name, z_columns[name])

    X = np.column_stack(list(columns.values()))
    Z = np.column_stack(list(z_columns.values()))
    scales = np.array([1.0] + [max(float(np.std(Z[:, j])), 1e-9) for j in range(1, Z.shape[1])])
    cov = _random_cov(rng, Z.shape[1], truth, scales)
    b = rng.multivariate_normal(np.zeros(Z.shape[1]), cov, size=n_people, method="eigh")
    beta = rng.normal(0, 1, X.shape[1]) / np.maximum(np.std(X, axis=0), 1.0)
    residual_sd = rng.uniform(0.5, 3.0)
    y = X @ beta + np.einsum("nq,nq->n", Z, b[pid]) + residual_sd * rng.standard_normal(n)
    y = np.round(10.0 + y, 6)
    return Dataset(index, family, truth, y, X, Z, pid, list(columns), list(z_columns))


def write_csv(data: Dataset, path: Path) -> None:
    """Columns g, y, x0.., z0.., written exactly (17 significant digits)."""
    table = np.column_stack([data.groups, data.y, data.X, data.Z])
    header = ",".join(
        [
            "g",
            "y",
            *[f"x{j}" for j in range(data.X.shape[1])],
            *[f"z{j}" for j in range(data.Z.shape[1])],
        ]
    )
    np.savetxt(path, table, delimiter=",", header=header, comments="", fmt="%.17g")


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for index in range(N_DATASETS):
        write_csv(generate(index), out / f"d{index:03d}.csv")


if __name__ == "__main__":
    main(sys.argv[1])
