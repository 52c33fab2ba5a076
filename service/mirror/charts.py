"""Bar charts as accessible SVG, made on the server (no script, no external library or CDN).

Each chart is an `<svg role="img">` named by its `<title>` and described by its `<desc>` through
`aria-labelledby` (SVG Accessibility API Mappings §5.1.1, "svg" with role img; WAI-ARIA 1.2 `img`: its content is
presentational, so the desc says everything the bars say). The page puts a table with the same numbers beside
each chart, which is what a screen reader user reads and what the keyboard reaches. A suppressed cell has no bar
length to show: it is drawn as a short hatched stub labelled with the suppression mark ("<10"), never with a length
that would hint at its value, and the chart's legend says what the hatching means.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
LABEL_HEIGHT = 18  # a bar's label line above it
BAR_HEIGHT = 22
GAP = 12
MARGIN = 8
VALUE_ROOM = 70  # right of the longest bar: its value
STUB = 28  # the hatched stub of a suppressed bar
LEGEND_HEIGHT = 30
BAR_COLOUR = "#00539f"  # app.css --primary; 7.6:1 against white
TEXT_COLOUR = "#1b1b1b"  # app.css --text
HATCH_COLOUR = "#4a4a4a"  # app.css --muted


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value (None: suppressed), and the value as the table shows it ("12", "35%", "<10")."""

    label: str
    value: float | None
    shown: str


@dataclass(frozen=True)
class Chart:
    """What a chart says: an id unique on the page (its title's and desc's ids derive from it), the title, a
    sentence for its desc, the bars, and the legend's words for a suppressed bar."""

    id: str
    title: str
    summary: str
    bars: tuple[Bar, ...]
    suppressed_legend: str


def bar_chart(chart: Chart) -> Markup:
    """The chart as one `<svg>` element: horizontal bars, each with its label above and its value at its end;
    a legend for the hatching when a bar is suppressed."""
    longest = max((b.value for b in chart.bars if b.value is not None), default=0.0)
    scale = (WIDTH - 2 * MARGIN - VALUE_ROOM) / longest if longest > 0 else 0.0
    hidden = any(b.value is None for b in chart.bars)
    row = LABEL_HEIGHT + BAR_HEIGHT + GAP
    height = MARGIN * 2 + row * len(chart.bars) + (LEGEND_HEIGHT if hidden else 0)
    cid = escape(chart.id)
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="mirror-chart" role="img" viewBox="0 0 {WIDTH} {height}" '
            f'aria-labelledby="{cid}-title {cid}-desc" focusable="false">'
        ),
        f'<title id="{cid}-title">{escape(chart.title)}</title>',
        f'<desc id="{cid}-desc">{escape(_description(chart))}</desc>',
    ]
    if hidden:
        parts.append(_hatch(chart.id))
    for i, bar in enumerate(chart.bars):
        parts.append(_bar(chart.id, bar, MARGIN + i * row, scale))
    if hidden:
        parts.append(_legend(chart, height - LEGEND_HEIGHT))
    parts.append("</svg>")
    return Markup("".join(parts))


def _description(chart: Chart) -> str:
    """The desc: the summary, then every bar's label and value, as the table has them."""
    values = "; ".join(f"{b.label}: {b.shown}" for b in chart.bars)
    return f"{chart.summary} {values}." if values else chart.summary


def _hatch(chart_id: str) -> str:
    return (
        f'<defs><pattern id="{escape(chart_id)}-hatch" patternUnits="userSpaceOnUse" width="6" height="6" '
        f'patternTransform="rotate(45)"><rect width="2" height="6" fill="{HATCH_COLOUR}"/></pattern></defs>'
    )


def _bar(chart_id: str, bar: Bar, top: int, scale: float) -> str:
    label_y, bar_y = top + LABEL_HEIGHT - 4, top + LABEL_HEIGHT
    label = f'<text x="{MARGIN}" y="{label_y}" font-size="14" fill="{TEXT_COLOUR}">{escape(bar.label)}</text>'
    if bar.value is None:
        shape = (
            f'<rect class="bar suppressed" x="{MARGIN}" y="{bar_y}" width="{STUB}" height="{BAR_HEIGHT}" '
            f'fill="url(#{escape(chart_id)}-hatch)" stroke="{HATCH_COLOUR}"/>'
        )
        end = float(MARGIN + STUB)
    else:
        length = max(bar.value * scale, 2.0 if bar.value > 0 else 0.0)
        shape = (
            f'<rect class="bar" x="{MARGIN}" y="{bar_y}" width="{length:.1f}" height="{BAR_HEIGHT}" '
            f'fill="{BAR_COLOUR}"/>'
        )
        end = MARGIN + length
    value = (
        f'<text x="{end + 6:.1f}" y="{bar_y + BAR_HEIGHT - 6}" font-size="14" fill="{TEXT_COLOUR}">'
        f"{escape(bar.shown)}</text>"
    )
    return f"<g>{label}{shape}{value}</g>"


def _legend(chart: Chart, top: int) -> str:
    return (
        f'<g class="legend"><rect x="{MARGIN}" y="{top + 6}" width="{STUB}" height="16" '
        f'fill="url(#{escape(chart.id)}-hatch)" stroke="{HATCH_COLOUR}"/>'
        f'<text x="{MARGIN + STUB + 8}" y="{top + 19}" font-size="13" fill="{TEXT_COLOUR}">'
        f"{escape(chart.suppressed_legend)}</text></g>"
    )
