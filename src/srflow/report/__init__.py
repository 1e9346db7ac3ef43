"""The self-contained HTML report of a cohort's results.

Typical use (what ``workflow/scripts/report.py`` does)::

    from srflow.report import collect_provenance, load_report_inputs, write_report

    provenance = collect_provenance(config.data, cohort.input)   # or srflow.stages.provenance(...)
    inputs = load_report_inputs("results/mystudy", cohort, config.data, provenance)
    write_report(inputs, "results/mystudy/report.html")
    write_key_figures(inputs, {"overview": "results/mystudy/figures/overview.svg",
                               "scores": "results/mystudy/figures/scores.svg"})

Privacy: no participant id and no row-level table reach the HTML; every count shown goes
through :func:`suppress_count` (1 .. min_cell-1 -> "<min_cell"), and statistics of cells
below ``report.min_cell`` are withheld.
"""

from srflow.report.context import (
    ReportInputs,
    collect_provenance,
    config_sha256,
    file_sha256,
    load_report_inputs,
)
from srflow.report.formatting import suppress_count
from srflow.report.render import KEY_FIGURES, build_report, write_key_figures, write_report

__all__ = [
    "ReportInputs",
    "build_report",
    "collect_provenance",
    "config_sha256",
    "file_sha256",
    "load_report_inputs",
    "suppress_count",
    "write_key_figures",
    "write_report",
    "KEY_FIGURES",
]
