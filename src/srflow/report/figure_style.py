"""Style and encoding of the report's figures, drawn with matplotlib's object API (no pyplot state).

Sparse figures (a few boxes or lines) are written as inline SVG, dense ones (scatter
plots) as PNG data URIs. Both are byte-for-byte reproducible: the SVG hash salt is
fixed, dates and creator metadata are dropped, element ids are namespaced per figure
so several inline SVGs can share one HTML page, and no URL is left in the markup.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass

import matplotlib
from matplotlib.figure import Figure

#: rcParams applied to every report figure (fixed salt -> deterministic SVG ids).
STYLE = {
    "svg.hashsalt": "srflow-report",
    "svg.fonttype": "none",  # text stays text: smaller, faster, selectable
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e6ea",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "axes.edgecolor": "#6b7280",
    "axes.prop_cycle": matplotlib.cycler(
        color=[
            "#2f6f9f",
            "#c2562b",
            "#3f8f5a",
            "#8a5aa8",
            "#b08a1e",
            "#5b6770",
            "#c0417a",
            "#2a9d9b",
        ]
    ),
    "legend.frameon": False,
    "legend.fontsize": 8,
    "figure.dpi": 100,
    "path.simplify": True,
}
PALETTE = list(STYLE["axes.prop_cycle"].by_key()["color"])
PNG_DPI = 110


@dataclass(frozen=True)
class FigureBlock:
    """One figure ready for the template: markup plus its caption and alternative text."""

    id: str
    html: str
    caption: str
    alt: str


def new_figure(width: float = 7.2, height: float = 3.2, ncols: int = 1, nrows: int = 1, **kwargs):
    """A figure and its axes, with the report style applied."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, height))
        axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    # Fixed margins in inches (a layout engine costs more than the drawing itself).
    fig.subplots_adjust(
        left=0.7 / width,
        right=1 - 0.2 / width,
        bottom=0.55 / height,
        top=1 - 0.35 / height,
        wspace=0.35,
        hspace=0.55 if nrows > 1 else 0.2,
    )
    return fig, axes


_ID_RE = re.compile(r'\bid="([^"]+)"')


def _namespace_ids(svg: str, prefix: str) -> str:
    """Prefix every element id (and every reference to it) so inline SVGs cannot clash."""
    ids = set(_ID_RE.findall(svg))
    if not ids:
        return svg

    def swap(match: re.Match) -> str:
        head, name = match.group(1), match.group(2)
        return f"{head}{prefix}-{name}" if name in ids else match.group(0)

    return re.sub(r'(\bid="|url\(#|href="#)([^")]+)', swap, svg)


def to_svg(fig: Figure, fig_id: str, alt: str) -> str:
    """Render a figure as inline SVG markup (no prolog, no metadata, no namespaces URLs)."""
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(
            buffer,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    # In HTML the parser puts <svg> in the SVG namespace itself; dropping the declarations
    # leaves no URL at all in the page.
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    svg = re.sub(r'\s+version="1\.1"', "", svg, count=1)
    svg = _namespace_ids(svg, fig_id)
    open_end = svg.index(">")
    head = f'<svg role="img" aria-label="{_escape(alt)}" class="chart"' + svg[4:open_end] + ">"
    return (head + f"<title>{_escape(alt)}</title>" + svg[open_end + 1 :]).strip()


def save_standalone(fig: Figure, path, title: str = "") -> None:
    """Write a figure to an .svg or .png file, deterministically (no dates, fixed ids)."""
    path = str(path)
    with matplotlib.rc_context(STYLE):
        if path.lower().endswith(".svg"):
            fig.savefig(path, format="svg", metadata={"Date": None, "Title": title or None})
        else:
            fig.savefig(path, format="png", dpi=PNG_DPI, metadata={"Software": None})


def to_png(fig: Figure, alt: str) -> str:
    """Render a figure as an ``<img>`` with a PNG data URI and explicit pixel size."""
    buffer = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    width, height = (int(round(v * PNG_DPI)) for v in fig.get_size_inches())
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<img class="chart" src="data:image/png;base64,{encoded}" width="{width}" height="{height}" '
        f'alt="{_escape(alt)}">'
    )


def _escape(text: str) -> str:
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )
