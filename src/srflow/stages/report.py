"""Stage that renders the cohort report."""

from __future__ import annotations

from typing import Any, Mapping


from srflow.stages._common import cohort_config, say


def report_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    results_dir: str,
    html_out: str,
    figures_out: Mapping[str, str],
) -> None:
    """Render the cohort's self-contained HTML report and the key figures flagged for Snakemake's report."""
    from srflow import report

    cohort = cohort_config(config_data, cohort_name)
    provenance = report.collect_provenance(config_data, cohort.input)
    inputs = report.load_report_inputs(results_dir, cohort, config_data, provenance)
    report.write_report(inputs, html_out)
    report.write_key_figures(inputs, figures_out)
    say(f"wrote {html_out}")
