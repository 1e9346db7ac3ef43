"""The contract of every result file a stage writes and a later stage or the report reads.

Each file has one definition here, used by its writer and by its readers:

==========================================  =====================================  ==============================
file (under ``results/{cohort}/``)          definition                             written by rule
==========================================  =====================================  ==============================
``validation/failures.csv``                 :data:`FAILURES_TABLE`                 ``validate``
``validation/ledger.csv``                   :data:`LEDGER_TABLE`                   ``validate``
``scores.parquet``, ``scores.csv``          :data:`SCORES_TABLE`                   ``score``
``scoring.json``                            :class:`ScoringSummary`                ``score``
``reliability.csv``                         :data:`RELIABILITY_TABLE`              ``score``
``attrition.csv``, ``attrition.json``       :data:`ATTRITION_TABLE`, AttritionFit  ``score``
``sr/{spec}.csv``                           :data:`SR_TABLE`                       ``sr_scores``
``sr/{spec}.line.json``                     :class:`SRLine`                        ``sr_scores``
``mixed/{model}.fixed.csv``                 :data:`FIXED_TABLE`                    ``fit_mixed_model``
``mixed/{model}.anova.csv``                 :data:`ANOVA_TABLE`                    ``fit_mixed_model``
``mixed/{model}.fit.json``                  :class:`MixedFit`                      ``fit_mixed_model``
``mixed/{model}.random.csv``                :data:`RANDOM_TABLE`                   ``fit_mixed_model``
``regressions/{name}.coefficients.csv``     :data:`REGRESSION_COEFFICIENTS_TABLE`  ``regressions``
``regressions/{name}.fit.json``             :class:`RegressionFit`                 ``regressions``
``trajectories/{name}/selection.csv``       :data:`SELECTION_TABLE`                ``select_trajectories``
``trajectories/{name}/classes.csv``         :data:`CLASSES_TABLE`                  ``select_trajectories``
``trajectories/{name}/curves.csv``          :data:`CURVES_TABLE`                   ``select_trajectories``
``trajectories/{name}/classification.csv``  :data:`CLASSIFICATION_TABLE`           ``select_trajectories``
``trajectories/{name}/predictors.csv``      :data:`PREDICTORS_TABLE`               ``trajectory_predictors``
``trajectories/{name}/distal.csv``          :data:`DISTAL_TABLE`                   ``trajectory_distal``
``trajectories/{name}/anchors.csv``         :data:`ANCHORS_TABLE`                  ``trajectory_series_anchored``
``trajectories/{name}/fits/K{k}.json``      :class:`TrajectoryFit`                 ``fit_trajectories``
==========================================  =====================================  ==============================

JSON files are :class:`Record` classes: frozen dataclasses with one field per key.
``Record.from_json`` (and ``Record.read``) refuses an unknown key, a missing required key
and a value of the wrong type with a :class:`ResultContractError` that names the file, the
place in it and the rule to rerun; ``to_json`` / ``write`` give back exactly the mapping, so
a writer that goes through its record writes the same bytes as before. Tables are
:class:`TableContract` values: the columns a table may have, their kinds and which are
required; ``read`` checks a file, ``write`` checks a frame and writes it unchanged.

Adding a field
--------------
One line in one place:

* a JSON key: add a field to its record class, ``r2_marginal: float | None = ABSENT``
  (``= ABSENT`` when the key is not always written; no default when it always is). A nested
  object gets its own ``@record`` class, used as the field's type.
* a table column: add ``col("df", "float", required=False)`` to its contract's ``columns``,
  where the writer puts it (``required=True`` if every writer always writes it).
* a new file: a record class or a ``TableContract`` in the module of its stage, re-exported
  here, and its writer calls ``write`` on it.

Examples
--------
>>> from srflow.results import SRLine, ResultContractError
>>> try:
...     SRLine.from_json({"spec": "x"}, "results/c/sr/x.line.json")
... except ResultContractError as error:
...     "rerun rule 'sr_scores'" in str(error) and "missing key(s)" in str(error)
True
>>> import pandas as pd
>>> from srflow.results import FIXED_TABLE
>>> list(FIXED_TABLE.check(pd.DataFrame(columns=FIXED_TABLE.required)).columns)
['term', 'estimate', 'se', 'statistic', 'p', 'ci_low', 'ci_high']
"""

from srflow.results._record import ABSENT, Json, Record, ResultContractError, Source, record
from srflow.results._table import Column, TableContract, col, pattern
from srflow.results.data import FAILURES_TABLE, LEDGER_TABLE, SCORES_TABLE
from srflow.results.mixed import (
    ANOVA_TABLE,
    FIXED_TABLE,
    RANDOM_TABLE,
    Comparison,
    MixedFit,
    VarianceComponents,
)
from srflow.results.regressions import REGRESSION_COEFFICIENTS_TABLE, RegressionFit
from srflow.results.scoring import (
    ATTRITION_TABLE,
    RELIABILITY_TABLE,
    AttritionFit,
    ExposureScore,
    ProblemsScore,
    ScoringSummary,
)
from srflow.results.sr import (
    SR_TABLE,
    Coefficient,
    CooksDistance,
    Counts,
    Excluded,
    FormTest,
    LineFit,
    Outliers,
    RandomEffects,
    ResidualQQ,
    SRLine,
    SRSettings,
)
from srflow.results.trajectories import (
    ANCHORS_TABLE,
    CLASSES_TABLE,
    CLASSIFICATION_TABLE,
    CURVES_TABLE,
    DISTAL_TABLE,
    PREDICTORS_TABLE,
    SELECTION_TABLE,
    SplitFrame,
    TrajectoryFit,
)

__all__ = [
    "ABSENT",
    "ANCHORS_TABLE",
    "ATTRITION_TABLE",
    "AttritionFit",
    "ExposureScore",
    "ProblemsScore",
    "RELIABILITY_TABLE",
    "ScoringSummary",
    "CLASSES_TABLE",
    "CLASSIFICATION_TABLE",
    "DISTAL_TABLE",
    "PREDICTORS_TABLE",
    "CURVES_TABLE",
    "Coefficient",
    "Column",
    "Comparison",
    "ANOVA_TABLE",
    "CooksDistance",
    "Counts",
    "Excluded",
    "FAILURES_TABLE",
    "FIXED_TABLE",
    "FormTest",
    "Json",
    "LEDGER_TABLE",
    "LineFit",
    "MixedFit",
    "Outliers",
    "RANDOM_TABLE",
    "REGRESSION_COEFFICIENTS_TABLE",
    "RandomEffects",
    "Record",
    "RegressionFit",
    "ResidualQQ",
    "ResultContractError",
    "SCORES_TABLE",
    "SELECTION_TABLE",
    "SRLine",
    "SRSettings",
    "SR_TABLE",
    "SplitFrame",
    "Source",
    "TableContract",
    "TrajectoryFit",
    "VarianceComponents",
    "col",
    "pattern",
    "record",
]
