"""Advice always in sight (issue 12, point 1), measured in headless Chromium: after each tick of a realistic
sequence the level and every recipient's name are inside the window — in the panel beside the form at 1280×800,
in the summary bar at 400×800 (whose link then shows the panel) — and each page passes axe-core at both widths.

"Inside the window" is measured, not assumed: each of the element's line boxes lies within 0..innerWidth ×
0..innerHeight, and the point at its centre is the element itself (not covered by the bar, not clipped by the
panel's own scrolling).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

PANEL = "#panel"
BAR = "#panel-bar"

# (label ticked, level then, recipients then): Part A §2.1 of DOMAIN.md — 1 other signal is "aandacht", 2 are
# "kwetsbaar" (the JGZ), 1 urgent and 2 others "urgent kwetsbaar" and complex (the JGZ and the POH Jeugd).
SEQUENCE = [
    ("Financiële problematiek", "aandacht", 0),
    ("Taalbarrière", "kwetsbaar", 1),
    ("Huiselijk geweld", "urgent kwetsbaar", 2),  # brings the Meldcode
    ("Verslavingsproblematiek", "urgent kwetsbaar", 2),
]

IN_SIGHT = """el => {
  // every line box of the element (a name may wrap onto two lines): inside the window, and its centre shows el
  const rects = Array.from(el.getClientRects()).filter(r => r.width > 0 && r.height > 0);
  const inside = rects.length > 0 && rects.every(r => r.top >= 0 && r.left >= 0
                 && r.bottom <= window.innerHeight && r.right <= window.innerWidth);
  const uncovered = rects.length > 0 && rects.every(r => {
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return hit !== null && (hit === el || el.contains(hit));
  });
  return {inside, uncovered, window: [window.innerWidth, window.innerHeight],
          boxes: rects.map(r => [Math.round(r.left), Math.round(r.top), Math.round(r.right), Math.round(r.bottom)])};
}"""


def assert_in_sight(locator, what: str) -> None:
    expect(locator).to_be_visible()
    seen = locator.evaluate(IN_SIGHT)
    assert seen["inside"] and seen["uncovered"], f"{what} is out of sight: {seen}"


def count_panel_updates(page) -> None:
    """Count the live panel's refreshes (app.js fires ks:panel-updated on the form after each)."""
    page.evaluate("""() => { window.ksUpdates = 0;
        document.getElementById('signal-form').addEventListener('ks:panel-updated', () => { window.ksUpdates++; }); }""")


def tick_and_wait(page, label: str, level: str, recipients: int) -> None:
    before = page.evaluate("window.ksUpdates")
    page.get_by_label(label, exact=True).check()
    page.wait_for_function("n => window.ksUpdates > n", arg=before)  # this tick's refresh, not an earlier one
    expect(page.locator(f"{PANEL} .level-value")).to_have_text(level)
    expect(page.locator(f"{PANEL} .recipient-name")).to_have_count(recipients)


@pytest.mark.parametrize("width", [1280, 400])
def test_level_and_recipients_in_sight_after_each_tick(journey, width):
    j = journey()
    page = j.page
    page.set_viewport_size({"width": width, "height": 800})
    j.launch("demo-pregnant")
    count_panel_updates(page)
    for n, (label, level, recipients) in enumerate(SEQUENCE, start=1):
        tick_and_wait(page, label, level, recipients)
        names = page.locator(f"{PANEL} .recipient-name").all_inner_texts()
        if width >= 1000:  # the panel beside the form, sticky
            expect(page.locator(BAR)).to_be_hidden()
            assert_in_sight(page.locator(f"{PANEL} .level-value"), f"{label}: the level")
            for i in range(recipients):
                assert_in_sight(page.locator(f"{PANEL} .recipient-name").nth(i), f"{label}: {names[i]}")
        else:  # the panel below the form: the bar counts, updated with the panel
            expect(page.locator(f"{BAR} .bar-level-value")).to_have_text(level)
            assert_in_sight(page.locator(f"{BAR} .bar-level-value"), f"{label}: the level in the bar")
            bar_names = page.locator(f"{BAR} .bar-recipient")
            expect(bar_names).to_have_text([name.strip() for name in names])
            for i in range(recipients):
                assert_in_sight(bar_names.nth(i), f"{label}: {names[i]} in the bar")
        if n in (1, len(SEQUENCE)):  # axe-core (Journey.check runs it at 1280×800 and at 400×800)
            j.check(f"{width}-tick-{n}")
            page.set_viewport_size({"width": width, "height": 800})  # check leaves the page at 1280×800
        else:
            j.shot(f"{width}-tick-{n}", full_page=False)

    strip = page.locator(f"{PANEL} details.meldcode-strip")
    expect(strip.locator("summary")).to_have_text(
        "Huiselijk geweld: volg de meldcode — bij acuut gevaar 112, Veilig Thuis 0800-2000"
    )
    expect(page.locator(f"{PANEL} .steps")).to_have_count(0)  # the five steps are on the Meldcode step
    if width >= 1000:
        assert_in_sight(strip.locator("summary"), "the Meldcode strip")
    else:
        expect(page.locator(f"{BAR} .bar-meldcode")).to_have_text("Meldcode")
        page.locator(f"{BAR} a").click()  # the bar opens the panel
        assert_in_sight(page.locator(f"{PANEL} .level-value"), "the level after the bar's link")
        assert_in_sight(page.locator(f"{PANEL} .recipient-name").first, "the first recipient after the bar's link")
        j.shot("400-the-bar-opened-the-panel", full_page=False)
    strip.locator("summary").click()
    never = strip.get_by_text("Deze dienst stuurt nooit iets naar Veilig Thuis.")
    expect(never).to_be_visible()
    # app.js scrolls the opened strip into sight: wait for that (briefly), then measure
    page.wait_for_function(
        f"el => {{ const s = ({IN_SIGHT})(el); return s.inside && s.uncovered; }}",
        arg=never.element_handle(),
        timeout=3000,
    )
    assert_in_sight(never, "the opened Meldcode strip's last line")
    assert_in_sight(strip.locator(".danger-line"), "112 in the opened strip")
    j.check(f"{width}-meldcode-open")
    page.set_viewport_size({"width": width, "height": 800})
    # the strip the GP opened stays open when the panel is refreshed by the next tick
    page.get_by_label("Verslavingsproblematiek", exact=True).scroll_into_view_if_needed()
    tick_and_wait(page, "Dak- of thuisloos", "urgent kwetsbaar", 2)
    expect(never).to_be_visible()


def test_summary_bar_without_javascript(journey):
    """Without JavaScript the server renders the bar; "Voorstel bijwerken" updates it and its link opens the panel."""
    j = journey(javascript=False)
    page = j.page
    page.set_viewport_size({"width": 400, "height": 800})
    j.launch("demo-pregnant")
    expect(page.locator(f"{BAR} .bar-level-value")).to_have_text("geen kwetsbaarheid")
    assert_in_sight(page.locator(f"{BAR} .bar-level-value"), "the level in the bar")
    for label in ("Financiële problematiek", "Taalbarrière", "Huiselijk geweld"):
        page.get_by_label(label, exact=True).check()
    page.get_by_role("button", name="Voorstel bijwerken").click()
    page.wait_for_url("**/form#panel")
    expect(page.locator(f"{BAR} .bar-level-value")).to_have_text("urgent kwetsbaar")
    names = [n.strip() for n in page.locator(f"{PANEL} .recipient-name").all_inner_texts()]
    assert len(names) == 2
    expect(page.locator(f"{BAR} .bar-recipient")).to_have_text(names)
    assert_in_sight(page.locator(f"{PANEL} .level-value"), "the level at #panel")
    page.get_by_label("Huiselijk geweld", exact=True).scroll_into_view_if_needed()  # back in the form: the bar again
    assert_in_sight(page.locator(f"{BAR} .bar-recipient").last, "the last recipient in the bar")
    page.locator(f"{BAR} a").click()
    assert_in_sight(page.locator(f"{PANEL} .level-value"), "the level after the bar's link")
    j.check("400-nojs-bar")
