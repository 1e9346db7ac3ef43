"""The report's sections in order, each built by a function from the inputs and earlier facts.

Each section function returns its section and the facts later sections cite (the methods
text cites the overview's counts and the validation's exclusions; the GRoLTS checklist what
the trajectory results hold), so no section depends on another having run first except
through what it is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from srflow.report import grolts
from srflow.report.blocks import FigureNumbers, ReportContext, Section
from srflow.report.data_sections import (
    OverviewFacts,
    overview_section,
    scores_section,
    validation_section,
)
from srflow.report.formatting import DASH
from srflow.report.inputs import ReportInputs, config_sha256
from srflow.report.methods_text import methods_paragraphs
from srflow.report.mixed_section import mixed_section
from srflow.report.references import REFERENCES
from srflow.report.resilience_section import resilience_section
from srflow.report.score_sections import attrition_blocks, scoring_blocks
from srflow.report.sr_section import sr_section
from srflow.report.trajectory_section import TrajectoryFacts, trajectories_section


def build_sections(inputs: ReportInputs, ctx: ReportContext) -> list[Section]:
    """Every section, in report order (figures are numbered in this order)."""
    figures = FigureNumbers()
    overview, overview_facts = overview_section(ctx, figures)
    attrition_blocks(ctx, overview, inputs.attrition)
    validation, excluded = validation_section(ctx, inputs.ledger, inputs.failures)
    scores = scores_section(ctx, figures)
    scoring_blocks(ctx, scores, inputs.scoring, inputs.reliability)
    sr = sr_section(ctx, figures, dict(inputs.sr))
    mixed = mixed_section(ctx, dict(inputs.mixed))
    resilience = resilience_section(ctx, figures, dict(inputs.regressions), dict(inputs.mixed))
    trajectories, trajectory_facts = trajectories_section(ctx, figures, dict(inputs.trajectories))
    return [
        overview,
        validation,
        scores,
        sr,
        mixed,
        resilience,
        trajectories,
        grolts_section(ctx, trajectory_facts, attrition_model=_attrition_ok(inputs)),
        methods_section(ctx, inputs.provenance, overview_facts, excluded),
    ]


def _attrition_ok(inputs: ReportInputs) -> bool:
    """Whether the report shows a fitted attrition model (what GRoLTS item 3b asks for)."""
    return inputs.attrition is not None and inputs.attrition.fit.status == "ok"


def grolts_section(
    ctx: ReportContext, facts: TrajectoryFacts, attrition_model: bool = False
) -> Section:
    """The 21 GRoLTS items, each marked by how far this report answers it."""
    section = Section("grolts", "GRoLTS checklist")
    rows = grolts.grolts_rows(
        ctx.cohort_config,
        {"has_time": ctx.has_time, "attrition_model": attrition_model, **dataclasses.asdict(facts)},
    )
    section.add(
        "p",
        text=(
            "The Guidelines for Reporting on Latent Trajectory Studies (van de Schoot et al., 2017), 21 items, "
            "paraphrased. Each item is marked by how far this report answers it given the configured analysis."
        ),
    )
    counts = {
        mark: sum(r.mark == mark for r in rows)
        for mark in (grolts.AUTO, grolts.PARTLY, grolts.AUTHOR, grolts.NA)
    }
    section.add("p", text="; ".join(f"{mark}: {n}" for mark, n in counts.items()) + ".")
    section.add("grolts", rows=rows)
    return section


def methods_section(
    ctx: ReportContext, provenance: Mapping[str, Any], overview: OverviewFacts, excluded: str
) -> Section:
    """The generated methods text and the references it cites."""
    section = Section("methods", "Methods")
    facts = {**dataclasses.asdict(overview), "excluded": excluded}
    paragraphs, used = methods_paragraphs(ctx.cohort_config, facts, packages(provenance))
    for paragraph in paragraphs:
        section.add("p", text=paragraph)
    section.add("h3", text="References", id="references")
    references = sorted((REFERENCES[k]["text"] for k in used), key=str.lower)
    section.add("references", items=references)
    return section


def footer(inputs: ReportInputs, ctx: ReportContext) -> dict:
    """Hashes, seed and package versions for the reproducibility footer."""
    provenance = dict(inputs.provenance)
    versions = packages(provenance)
    return {
        "items": [
            (
                "Config SHA-256",
                provenance.get("config_sha256") or config_sha256(inputs.config_data),
            ),
            ("Input file", provenance.get("input_file") or ctx.cohort_config.input.name),
            ("Input SHA-256", provenance.get("input_sha256") or DASH),
            ("Seed", str(ctx.seed)),
            ("srflow", versions.get("srflow", DASH)),
        ],
        "packages": sorted((k, str(v)) for k, v in versions.items() if k != "srflow"),
    }


def packages(provenance: Mapping[str, Any]) -> dict[str, str]:
    """Package versions from provenance, leaving out ones not installed."""
    return {str(k): str(v) for k, v in provenance.get("packages", {}).items()}
