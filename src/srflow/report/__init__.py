"""The self-contained HTML report of a cohort's results.

Typical use (what ``workflow/scripts/report.py`` does through :func:`srflow.stages.report_stage`)::

    from srflow.report import ReportFiles, collect_provenance, load_report_inputs, write_report

    files = ReportFiles.from_rule_inputs(snakemake.input)      # or ReportFiles.in_folder("results/mystudy", cohort)
    provenance = collect_provenance(config.data, cohort.input)
    inputs = load_report_inputs(files, cohort, config.data, provenance)
    write_report(inputs, "results/mystudy/report.html")
    write_key_figures(inputs, {"overview": "results/mystudy/figures/overview.svg",
                               "scores": "results/mystudy/figures/scores.svg"})

The report reads exactly the files it is given, each through its contract in
:mod:`srflow.results`, and shows the specs of the config in config order.

Privacy: no participant id and no row-level table reach the HTML; every count shown goes
through :func:`suppress_count` (1 .. min_cell-1 -> "<min_cell"), and statistics of cells
below ``report.min_cell`` are withheld.
"""

from srflow.report.formatting import suppress_count
from srflow.report.inputs import (
    AttritionResults,
    MixedResults,
    RegressionResults,
    ReportFiles,
    ReportInputs,
    SRResults,
    TrajectoryResults,
    collect_provenance,
    config_sha256,
    file_sha256,
    load_report_inputs,
)
from srflow.report.render import KEY_FIGURES, build_report, write_key_figures, write_report

__all__ = [
    "KEY_FIGURES",
    "AttritionResults",
    "MixedResults",
    "RegressionResults",
    "ReportFiles",
    "ReportInputs",
    "SRResults",
    "TrajectoryResults",
    "build_report",
    "collect_provenance",
    "config_sha256",
    "file_sha256",
    "load_report_inputs",
    "suppress_count",
    "write_key_figures",
    "write_report",
]
