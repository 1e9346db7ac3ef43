"""Figures for the HTML report: the shared style and encoders and the individual plots.

The style, the SVG/PNG encoders and :class:`FigureBlock` live in
:mod:`srflow.report.figure_style`, the plots in :mod:`srflow.report.plots`; this module
gathers both under the one name the sections use (``from srflow.report import figures as fg``).
"""

from __future__ import annotations

from srflow.report.figure_style import (
    PALETTE,
    PNG_DPI,
    STYLE,
    FigureBlock,
    new_figure,
    save_standalone,
    to_png,
    to_svg,
)
from srflow.report.plots import (
    box_panels,
    density_with_lines,
    forest_plot,
    histogram,
    merge_small_bins,
    participation_plot,
    qq_plot,
    scatter_with_lines,
    trajectory_panels,
)

__all__ = [
    "PALETTE",
    "PNG_DPI",
    "STYLE",
    "FigureBlock",
    "box_panels",
    "density_with_lines",
    "forest_plot",
    "histogram",
    "merge_small_bins",
    "new_figure",
    "participation_plot",
    "qq_plot",
    "save_standalone",
    "scatter_with_lines",
    "to_png",
    "to_svg",
    "trajectory_panels",
]
