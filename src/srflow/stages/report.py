"""Stage that renders the cohort report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from srflow.stages._common import cohort_config, say


def report_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    inputs: Mapping[str, Any],
    html_out: str,
    figures_out: Mapping[str, str],
) -> None:
    """Render the cohort's self-contained HTML report and the key figures flagged for Snakemake's report.

    Parameters
    ----------
    config_data : Mapping
        The whole config.
    cohort_name : str
        The cohort.
    inputs : Mapping
        The report rule's inputs (``snakemake.input``): ``scores``, ``ledger``, ``failures``
        and the lists ``sr``, ``mixed``, ``trajectories`` (see ``report_inputs`` in
        ``workflow/rules/common.smk``). Only these files are read.
    html_out : str
        The report.
    figures_out : Mapping
        Figure name -> path (see :func:`srflow.report.write_key_figures`).
    """
    from srflow import report

    cohort = cohort_config(config_data, cohort_name)
    files = report.ReportFiles.from_rule_inputs(inputs)
    provenance = report.collect_provenance(config_data, cohort.input)
    loaded = report.load_report_inputs(files, cohort, config_data, provenance)
    report.write_report(loaded, html_out)
    report.write_key_figures(loaded, figures_out)
    say(f"wrote {html_out}")
