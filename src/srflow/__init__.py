"""srflow: stressor-reactivity resilience scores for longitudinal cohort data.

The pipeline (``snakemake``) runs every step from a config file; the same steps are
functions for use from Python, e.g. in a notebook. They are imported on first use, so
``import srflow`` stays cheap:

=========================  ===============================================================
``load_config``            read and check a config (path or mapping) -> ``Config``
``read_cohort``            read a cohort's file into the canonical long table
``validate``               check ranges, types, duplicates, careless responding
``score``                  score the questionnaires into P, E and one column per instrument
``compute_sr``             stressor-reactivity scores of one SR spec
``fit_mixed_model``        a linear mixed model (random E slope = each person's reactivity)
``LCGA``, ``GMM``,         trajectory classes (latent class growth analysis, growth mixture
``LongitudinalKMeans``     model, longitudinal k-means), scikit-learn style estimators
``simulate_cohort``        a synthetic cohort with known latent truth
=========================  ===============================================================

Examples
--------
Simulate a cohort, score it and compute person-level SR; the trajectory classes of the
simulation are known, so we can check that the people who stay high (chronic) get the
highest SR and the resilient ones the lowest.

>>> import tempfile
>>> import srflow
>>> data, truth = srflow.simulate_cohort(300, 4, seed=3)
>>> path = tempfile.mkdtemp() + "/cohort.csv"
>>> data.to_csv(path, index=False)
>>> prorated = {"score": "prorated_sum", "min_answered": 0.8}
>>> instruments = {
...     "ghq12": {"role": "problems", "items": {"prefix": "GHQ_"}, "range": [0, 3], **prorated,
...               "reverse": ["GHQ_01", "GHQ_03", "GHQ_04", "GHQ_07", "GHQ_08", "GHQ_12"]},
...     "hassles": {"role": "stressors", "items": {"prefix": "GE_"}, "range": [0, 5], **prorated},
...     "life_events": {"role": "stressors", "items": {"prefix": "LE_"}, "range": [0, 5], **prorated},
... }
>>> columns = {"participant": "subject_id", "wave": "wave"}
>>> config = srflow.load_config(
...     {"cohorts": {"demo": {"input": path, "columns": columns, "instruments": instruments}}})
>>> cohort = config.cohort("demo")
>>> validated = srflow.validate(srflow.read_cohort(cohort), cohort)
>>> scores = srflow.score(validated.table, cohort)
>>> len(scores) == len(data)
True
>>> person = srflow.compute_sr(scores, {"level": "period"}, "person").table
>>> by_class = person.join(truth.groupby("participant_id")["trajectory_class"].first(),
...                        on="participant_id").groupby("trajectory_class")["sr"].mean()
>>> by_class.idxmax(), by_class.idxmin()
('chronic', 'resilient')
>>> model = srflow.fit_mixed_model(scores, {"outcome": "P", "fixed": ["E"], "random": ["E"]})
>>> model.status, bool(model.fixed.set_index("term").loc["E", "estimate"] > 0)
('ok', True)
"""

# No imports at module level: `import srflow` costs well under a millisecond, so the CLI and
# every pipeline job start fast; the public names below load on first use.
TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs more than the rest
__version__ = "0.1.0"

#: Public name -> the module that defines it (imported on first access).
_EXPORTS: dict[str, str] = {
    "load_config": "srflow.config",
    "read_cohort": "srflow.io",
    "validate": "srflow.validation",
    "score": "srflow.scoring",
    "compute_sr": "srflow.sr",
    "fit_mixed_model": "srflow.mixed",
    "LCGA": "srflow.trajectories",
    "GMM": "srflow.trajectories",
    "LongitudinalKMeans": "srflow.trajectories",
    "simulate_cohort": "srflow.synthetic",
}

__all__ = [
    "GMM",
    "LCGA",
    "LongitudinalKMeans",
    "__version__",
    "compute_sr",
    "fit_mixed_model",
    "load_config",
    "read_cohort",
    "score",
    "simulate_cohort",
    "validate",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from typing import Any

    from srflow.config import load_config
    from srflow.io import read_cohort
    from srflow.mixed import fit_mixed_model
    from srflow.scoring import score
    from srflow.sr import compute_sr
    from srflow.synthetic import simulate_cohort
    from srflow.trajectories import GMM, LCGA, LongitudinalKMeans
    from srflow.validation import validate


def __getattr__(name: str) -> "Any":
    """Import a public name's module on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'srflow' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> "list[str]":
    return sorted({*globals(), *_EXPORTS})
