"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from srflow.config import load_config

DATA = Path(__file__).parent / "data"

#: The instruments of the synthetic cohort files in data/synthetic (see its README).
SYNTHETIC_BASE = {
    "missing_codes": [-99],
    "on_invalid": "exclude",
    "careless": {"straightlining": "flag"},
    "instruments": {
        "ghq12": {"role": "problems", "items": {"prefix": "GHQ_"}, "range": [0, 3]},
        "hassles": {"role": "stressors", "items": {"prefix": "GE_"}, "range": [0, 5]},
        "life_events": {"role": "stressors", "items": {"prefix": "LE_"}, "range": [0, 5]},
    },
}
SYNTHETIC_COLUMNS = {"participant": "subject_id", "wave": "wave", "time": "date"}


@pytest.fixture(scope="session")
def lcga_cohort() -> pd.DataFrame:
    """The flexmix reference cohort (1,500 participants, 4 true classes); see tests/data."""
    return pd.read_csv(DATA / "lcga_cohort.csv")


@pytest.fixture
def synthetic_cohort():
    """Build a CohortConfig for one of the synthetic files: ``synthetic_cohort(path, **overrides)``."""

    def build(path: Path, **overrides):
        cohort = {**SYNTHETIC_BASE, "input": str(path), "columns": SYNTHETIC_COLUMNS, **overrides}
        return load_config({"cohorts": {"s": cohort}}).cohort("s")

    return build
