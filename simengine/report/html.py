"""The HTML layer of ``simengine report``: content blocks, embedded figures, one Jinja2 template.

A report is a list of sections, each a list of blocks (:func:`table`, :func:`figure`, :func:`text`,
:func:`facts`, :func:`pre`).  Blocks hold plain strings; the template is rendered with Jinja2's
autoescaping on, so scenario names, segment names and account ids (they come from users' files)
are text in the page and never markup or script.  Figures are embedded as base64 PNG ``data:``
URIs and the CSS is inline: the file needs no network and no other file.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from jinja2 import Environment, PackageLoader, select_autoescape

from simengine.version import __version__

__all__ = [
    "Section",
    "facts",
    "figure",
    "figure_uri",
    "png_uri",
    "pre",
    "render",
    "table",
    "text",
]


@dataclass
class Section:
    """One titled part of the report (``anchor`` is its id in the page's table of contents)."""

    title: str
    anchor: str
    blocks: list[dict] = field(default_factory=list)


def png_uri(data: bytes) -> str:
    """A ``data:`` URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_uri(fig, dpi: int = 100) -> str:
    """Render a matplotlib Figure through the Agg canvas to a PNG ``data:`` URI."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return png_uri(buffer.getvalue())


def figure(fig, alt: str, dpi: int = 100, caption: str = "", half: bool = False) -> dict:
    """A figure block (``fig`` a matplotlib Figure, or PNG bytes already rendered); ``half``
    figures sit two to a row on a wide screen (a sweep's per-scenario fans)."""
    uri = png_uri(fig) if isinstance(fig, bytes) else figure_uri(fig, dpi)
    return {"kind": "figure", "src": uri, "alt": alt, "caption": caption, "half": half}


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    caption: str = "",
    numeric: Sequence[bool] | None = None,
    flags: Iterable[Sequence[bool]] | None = None,
    fold: str = "",
) -> dict:
    """A table block; cells are turned into strings here.

    ``numeric`` right-aligns columns; ``flags`` (same shape as ``rows``) marks cells to highlight
    (a diagnostic over its threshold, say); ``fold`` folds the table behind that summary line.
    """
    rows = [[("" if c is None else str(c)) for c in row] for row in rows]
    flags = [list(f) for f in flags] if flags is not None else [[False] * len(columns)] * len(rows)
    numeric = list(numeric) if numeric is not None else [False] * len(columns)
    cells = [
        [{"text": c, "flag": bool(f)} for c, f in zip(row, fl, strict=True)]
        for row, fl in zip(rows, flags, strict=True)
    ]
    return {
        "kind": "table",
        "columns": list(columns),
        "rows": cells,
        "numeric": numeric,
        "caption": caption,
        "fold": fold,
    }


def text(*paragraphs: str, tone: str = "") -> dict:
    """Paragraphs of plain text (``tone``: ``""``, ``"warn"`` or ``"ok"``)."""
    return {"kind": "text", "paragraphs": [str(p) for p in paragraphs if p], "tone": tone}


def facts(pairs: Iterable[tuple[str, object]]) -> dict:
    """A key/value list (provenance, say); empty values are left out."""
    return {
        "kind": "facts",
        "pairs": [(str(k), str(v)) for k, v in pairs if v is not None and str(v) != ""],
    }


def pre(content: str, summary: str = "") -> dict:
    """Preformatted text (a config's YAML), folded behind ``summary`` when given."""
    return {"kind": "pre", "text": content, "summary": summary}


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("simengine.report", "templates"),
        # On for every template name (not only *.html): user text is always escaped.
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(title: str, subtitle: str, sections: Sequence[Section], created_at: str = "") -> str:
    """The whole page as a string."""
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        subtitle=subtitle,
        sections=sections,
        created_at=created_at,
        version=__version__,
    )
