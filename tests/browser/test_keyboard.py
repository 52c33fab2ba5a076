"""Keyboard only: a GP fills the routine case with Tab, Shift+Tab, Space, Enter, the arrow keys and typing — no
mouse, no Playwright click or fill — from the form through the review (consent per recipient, asked there) to the
confirmation. Every element the keyboard focuses shows a visible focus indicator (an outline or a box-shadow in
its computed style), focus moves in the page's order, and no element has a tabindex above 0 (WCAG 2.1 2.1.1,
2.4.3, 2.4.7).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import expect

PANEL = "#panel"
MAX_TABS = 150  # more stops than any page has: a loop that never finds its element fails instead of hanging

# What the keyboard focused: where it is in the document, and whether the focus can be seen.
FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const s = getComputedStyle(e), box = e.getBoundingClientRect();
  const label = (e.labels && e.labels.length ? e.labels[0].innerText : (e.innerText || e.value || '')).trim();
  return {
    tag: e.tagName.toLowerCase(), id: e.id, type: e.getAttribute('type'), label: label.slice(0, 100),
    order: Array.prototype.indexOf.call(document.getElementsByTagName('*'), e),
    outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
    shadow: s.boxShadow !== 'none' && s.boxShadow !== '',
    visible: box.width > 0 && box.height > 0 && s.visibility !== 'hidden',
  };
}"""
POSITIVE_TABINDEX = """() => Array.from(document.querySelectorAll('[tabindex]'))
  .filter(e => e.tabIndex > 0).map(e => e.outerHTML.slice(0, 120))"""


class Keyboard:
    """Moves the focus with the keyboard only, and checks every element it lands on."""

    def __init__(self, page):
        self.page = page
        self.last: dict | None = None
        self.seen = 0

    def focused(self) -> dict | None:
        return self.page.evaluate(FOCUSED)

    def _landed(self, key: str) -> dict | None:
        self.page.keyboard.press(key)
        now = self.focused()
        if now is None:
            return None
        where = f"{now['tag']}#{now['id']} ‘{now['label']}’"
        assert now["visible"], f"{key} focused an element that cannot be seen: {where}"
        assert now["outline"] or now["shadow"], f"no visible focus indicator on {where}"
        if self.last is not None and key == "Tab":
            assert now["order"] > self.last["order"], f"Tab went back in the page: to {where}"
        if self.last is not None and key == "Shift+Tab":
            assert now["order"] < self.last["order"], f"Shift+Tab went forward in the page: to {where}"
        self.last, self.seen = now, self.seen + 1
        return now

    def page_checks(self) -> None:
        """A new page: focus order is the page's own (no tabindex above 0); start from the top."""
        assert self.page.evaluate(POSITIVE_TABINDEX) == [], "tabindex above 0 reorders the focus"
        self.last = None

    def tab_to(self, wanted: Callable[[dict], bool], what: str, key: str = "Tab") -> dict:
        for _ in range(MAX_TABS):
            now = self._landed(key)
            if now is not None and wanted(now):
                return now
        raise AssertionError(f"{key} never reached {what} (last focus: {self.last})")

    def tab_to_id(self, element_id: str) -> dict:
        return self.tab_to(lambda f: f["id"] == element_id, f"#{element_id}")

    def sweep(self) -> int:
        """Tab through the whole page, from where the focus is to the end; the number of stops."""
        for stops in range(MAX_TABS):
            if self._landed("Tab") is None:
                return stops
        raise AssertionError("Tab never reached the end of the page")


def test_routine_case_by_keyboard_only(journey):
    j = journey()
    page = j.page
    j.launch("demo-pregnant")  # the EHR's launch opens the form; from here on only the keyboard
    keys = Keyboard(page)
    keys.page_checks()
    expect(page.locator("#f-phase-pregnant")).to_be_checked()  # $populate
    expect(page.locator("#f-due-date")).to_have_value(re.compile(r"^\d\d-\d\d-\d{4}$"))
    # the required mark, in sight and in the question's accessible name ("Fase" sits under the heading "Fase")
    expect(page.locator("#item-phase .required")).to_be_visible()
    expect(page.get_by_role("group", name="Fase (verplicht)", exact=True)).to_be_visible()
    expect(page.get_by_role("textbox", name=re.compile(r"^Uitgerekende datum.*\(verplicht\)$"))).to_be_visible()

    # the skip link first; Enter moves on to the content, the next Tab lands inside it
    keys.tab_to(lambda f: True, "the first stop")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    keys.last = None

    # the phase with the arrow keys: away from "Zwanger" and back (a radio group is one Tab stop)
    keys.tab_to(lambda f: f["id"].startswith("f-phase-"), "the phase")
    expect(page.locator("#f-phase-pregnant")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#f-phase-pregnant")).not_to_be_checked()
    page.keyboard.press("ArrowUp")
    expect(page.locator("#f-phase-pregnant")).to_be_checked()
    expect(page.locator("#item-due-date")).to_be_visible()

    # the due date is typed as dd-mm-jjjj (a text field, whatever the browser's locale): a day that does not
    # exist is named in the live panel; typed right again, it goes
    due = page.locator("#f-due-date")
    populated = due.input_value()
    keys.tab_to_id("f-due-date")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("1 maart")
    assert due.evaluate("e => e.validity.patternMismatch")  # the pattern is one the browser reads
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("31-02-2027")
    expect(page.locator(f"{PANEL} .panel-errors")).to_contain_text("Geen bestaande datum bij ‘Uitgerekende datum")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(populated)
    expect(page.locator(f"{PANEL} .panel-errors")).to_have_count(0)
    assert due.evaluate("e => e.validity.valid")

    # two other signals, ticked with the space bar; Shift+Tab goes back the way it came
    keys.tab_to_id("f-financial-problems")
    page.keyboard.press("Space")
    expect(page.locator("#f-financial-problems")).to_be_checked()
    keys.tab_to_id("f-language-barrier")
    page.keyboard.press("Space")
    expect(page.locator("#f-language-barrier")).to_be_checked()
    keys.tab_to(lambda f: f["id"] == "f-financial-problems", "the signal before", key="Shift+Tab")
    keys.last = None
    expect(page.locator(f"{PANEL} .level-value")).to_have_text("kwetsbaar")
    expect(page.locator(f"{PANEL} .recipient").first).to_contain_text("Regiocoördinator Jeugdgezondheidszorg")
    j.check("form-by-keyboard")

    keys.tab_to(lambda f: f["tag"] == "button" and "Controleren en verder" in f["label"], "the review button")
    page.keyboard.press("Enter")
    page.wait_for_url("**/form/review")
    keys.page_checks()

    # the review asks consent per recipient, of the GP who sends: not ticked until she ticks it
    box = page.locator("#consent-for-regiocoordinator-jgz")
    expect(box).not_to_be_checked()
    keys.tab_to_id("consent-for-regiocoordinator-jgz")
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    expect(page.locator("#consent-state-regiocoordinator-jgz")).to_have_text("Wordt verstuurd.")
    # how consent was given: one Tab stop, chosen with the space bar and the arrow keys
    expect(page.locator("#item-consent-method")).to_be_visible()
    expect(page.locator("#item-consent-method legend .required")).to_be_visible()
    keys.tab_to(lambda f: f["id"].startswith("f-consent-method-"), "how consent was given")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#f-consent-method-written")).to_be_checked()
    page.keyboard.press("ArrowUp")
    expect(page.locator("#f-consent-method-verbal")).to_be_checked()
    j.check("review-by-keyboard")

    keys.tab_to_id("send-button")
    page.keyboard.press("Enter")
    page.wait_for_url("**/form/sent")
    keys.page_checks()
    expect(page.locator(".sent-list li").filter(has_text="Regiocoördinator")).to_contain_text(
        "GGD Zuid Limburg (testserver)"
    )
    j.check("sent-by-keyboard")
    # every stop on the confirmation page, to its end, shows where the focus is
    assert keys.sweep() >= 3
    assert keys.seen >= 10
