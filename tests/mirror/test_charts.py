"""The server-side SVG bar charts (service/mirror/charts.py): accessible names, bars in proportion, a suppressed bar
a hatched stub with its legend and never a length, everything escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

from service.mirror.charts import STUB, Bar, Chart, bar_chart
from service.mirror.dashboard import Names, sections
from tests.mirror import factories

SVG = "{http://www.w3.org/2000/svg}"


def chart(*bars: Bar, cid: str = "c1") -> ET.Element:
    svg = bar_chart(
        Chart(id=cid, title="Verwijzingen", summary="Staafdiagram.", bars=bars, suppressed_legend="<10: verborgen")
    )
    return ET.fromstring(str(svg))


def test_the_svg_is_an_image_named_by_its_title_and_desc():
    root = chart(Bar("1e kwartaal", 4.0, "4"), Bar("2e kwartaal", 8.0, "8"))
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").get("id") == "c1-title" and root.find(f"{SVG}title").text == "Verwijzingen"
    desc = root.find(f"{SVG}desc")
    assert desc.get("id") == "c1-desc" and desc.text == "Staafdiagram. 1e kwartaal: 4; 2e kwartaal: 8."


def test_bars_are_in_proportion_and_the_longest_fills_the_width():
    root = chart(Bar("a", 5.0, "5"), Bar("b", 10.0, "10"), Bar("c", 0.0, "0"))
    widths = [float(r.get("width")) for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert widths[1] == 2 * widths[0] and widths[2] == 0.0
    assert widths[1] > 400
    assert root.find(f"{SVG}defs") is None  # nothing suppressed: no hatching, no legend


def test_a_suppressed_bar_is_a_hatched_stub_with_a_legend_never_a_length():
    small = chart(Bar("a", 40.0, "40"), Bar("b", None, "<10"))
    # the region's page from one report twice, every hidden cell based on other numbers of people
    small_page, large = _region_charts(people=1), _region_charts(people=9)
    stubs = [r for r in small.iter(f"{SVG}rect") if r.get("class") == "bar suppressed"]
    assert len(stubs) == 1 and float(stubs[0].get("width")) == STUB and stubs[0].get("fill") == "url(#c1-hatch)"
    assert small_page == large  # whatever is hidden, the same picture
    assert small.find(f"{SVG}defs/{SVG}pattern").get("id") == "c1-hatch"
    legend = small.find(f"{SVG}g[@class='legend']")
    assert legend.find(f"{SVG}text").text == "<10: verborgen"
    texts = [t.text for t in small.iter(f"{SVG}text")]
    assert "<10" in texts


def test_labels_are_escaped():
    svg = str(
        bar_chart(Chart(id="x", title="<script>", summary="s", bars=(Bar("a & <b>", 1.0, "1"),), suppressed_legend=""))
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a &amp; &lt;b&gt;" in svg
    assert not re.search(r"<(?!/?(svg|title|desc|g|rect|text|defs|pattern)\b)", svg)


def _region_charts(*, people: int) -> list[str]:
    """The region's charts (dashboard.sections) of the factory's region report, every hidden cell based on `people`."""
    report = factories.region_report()
    report = replace(report, cells=tuple(replace(c, people=people) if c.suppressed else c for c in report.cells))
    return [str(s.chart) for s in sections(report, factories.YEAR, Names(), "nl", "region")]
