"""Render a cohort's report to one self-contained HTML file."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from srflow.errors import InputError
from srflow.report import figures as fg
from srflow.report.blocks import ReportContext
from srflow.report.data_sections import overview_figure, scores_figure
from srflow.report.formatting import suppress_count
from srflow.report.inputs import ReportInputs
from srflow.report.sections import build_sections, footer


def _environment() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: (
            resources.files("srflow.report").joinpath("templates", name).read_text(encoding="utf-8")
        )
    )
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def build_report(inputs: ReportInputs) -> str:
    """Build the HTML report for one cohort.

    Parameters
    ----------
    inputs
        The loaded results (see :func:`srflow.report.load_report_inputs`).

    Returns
    -------
    str
        A complete, self-contained HTML document: CSS inline, figures inline (SVG) or as
        PNG data URIs, no external resource, no timestamp (the same inputs give the same
        bytes), no participant id and no row-level table; counts below the configured
        ``report.min_cell`` are shown as "<min_cell".
    """
    ctx = ReportContext.from_inputs(inputs)
    sections = build_sections(inputs, ctx)
    env = _environment()
    css = env.loader.get_source(env, "style.css")[0]
    template = env.get_template("report.html.j2")
    html = template.render(
        title=ctx.title,
        cohort=inputs.cohort,
        sections=sections,
        footer=footer(inputs, ctx),
        css=Markup(css),
        min_cell=ctx.min_cell,
        individual_points=ctx.individual_points,
        participants=suppress_count(ctx.n_participants, ctx.min_cell),
    )
    # One newline convention whatever the platform.
    return html.replace("\r\n", "\n")


def write_report(inputs: ReportInputs, path: str | Path) -> Path:
    """Build the report and write it as UTF-8 to ``path`` (parent folders created).

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(build_report(inputs).encode("utf-8"))
    return path


#: Figures that can be written as separate files (e.g. for ``snakemake --report``).
KEY_FIGURES = ("overview", "scores")


def write_key_figures(inputs: ReportInputs, paths: Mapping[str, str | Path]) -> dict[str, Path]:
    """Write chosen report figures as standalone files, the format taken from each suffix.

    Parameters
    ----------
    inputs
        The loaded results.
    paths
        Figure name (``"overview"``: participation per wave; ``"scores"``: P and E per
        wave) -> output path ending in ``.svg`` or ``.png``. The files are deterministic
        (no dates, fixed SVG ids) and, like the report, show no small counts.

    Returns
    -------
    dict
        Name -> path written.

    Raises
    ------
    InputError
        For an unknown figure name or suffix, or when the data hold nothing to draw.
    """
    ctx = ReportContext.from_inputs(inputs)
    written = {}
    for name, path in paths.items():
        path = Path(path)
        if name not in KEY_FIGURES:
            raise InputError(
                f"unknown report figure '{name}'; choose from {', '.join(KEY_FIGURES)}"
            )
        if path.suffix.lower() not in {".svg", ".png"}:
            raise InputError(
                f"report figure '{name}': write .svg or .png, not '{path.suffix}' ({path})"
            )
        made = overview_figure(ctx) if name == "overview" else scores_figure(ctx)
        path.parent.mkdir(parents=True, exist_ok=True)
        fg.save_standalone(made[0], path, title=made[1])
        written[name] = path
    return written
