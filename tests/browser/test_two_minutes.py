"""Two minutes, measured (issue 12 point 7): the routine case and the domestic-violence case, as a GP does them,
with every click and keystroke counted by the browser itself and the wall time taken.

The counts come from the page, not from the test: an init script counts the trusted `click` and `keydown` events
of every page of the journey (kept in sessionStorage across the form's pages), so a step the pages make the GP
take — a box to tick, a method to choose, a button to confirm — is counted whether or not this test meant to.
What the journeys do is the least the pages ask: no free text, nothing ticked that the case does not need.

Each journey writes tests/artifacts/two-minutes/<case>.json (clicks, keystrokes, wall time, per step) and every
step's screenshot at 1280×800 and 400×800 (Journey.check). The wall time is the journey's own (server and browser,
no human): a clinician's time is estimated from the counts with the keystroke-level model (Card, Moran & Newell,
1983: per click point 1.1 s + press 0.2 s + mental preparation 1.35 s; per keystroke 0.28 s), reading not included.
"""

from __future__ import annotations

import json
import re
import time

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS

PANEL = "#panel"

COUNTER = """
(() => {
  const bump = (name) => {
    const n = Number(sessionStorage.getItem(name) || '0') + 1;
    sessionStorage.setItem(name, String(n));
  };
  document.addEventListener('click', (e) => { if (e.isTrusted) bump('ks-clicks'); }, true);
  document.addEventListener('keydown', (e) => { if (e.isTrusted) bump('ks-keys'); }, true);
})();
"""

GOALS = {"routine": {"clicks": 8, "keystrokes": 0}, "domestic-violence": {"clicks": 12, "keystrokes": None}}
KLM_CLICK, KLM_KEY = 1.1 + 0.2 + 1.35, 0.28


class Stopwatch:
    """The browser's counts and the wall time at each named step of one journey."""

    def __init__(self, journey, case: str):
        self.journey, self.case, self.steps = journey, case, []
        journey.context.add_init_script(COUNTER)
        self.started = time.monotonic()
        self._paused = 0.0

    def counts(self) -> tuple[int, int]:
        got = self.journey.page.evaluate(
            "() => [Number(sessionStorage.getItem('ks-clicks') || '0'), Number(sessionStorage.getItem('ks-keys') || '0')]"
        )
        return int(got[0]), int(got[1])

    def step(self, name: str) -> None:
        """Record the counts at this step, then screenshot and check it at both widths (not timed)."""
        clicks, keys = self.counts()
        self.steps.append({"step": name, "clicks": clicks, "keystrokes": keys, "seconds": round(self.elapsed(), 2)})
        paused = time.monotonic()
        self.journey.check(name)
        self._paused += time.monotonic() - paused

    def elapsed(self) -> float:
        return time.monotonic() - self.started - self._paused

    def write(self) -> dict:
        clicks, keys = self.counts()
        result = {
            "case": self.case,
            "clicks": clicks,
            "keystrokes": keys,
            "wall_seconds": round(self.elapsed(), 2),
            "klm_estimate_seconds": round(clicks * KLM_CLICK + keys * KLM_KEY, 1),
            "goal": GOALS[self.case],
            "steps": self.steps,
            "screenshots": str(self.journey.folder.relative_to(ARTIFACTS.parent.parent)),
        }
        folder = ARTIFACTS / "two-minutes"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{self.case}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        return result


def wait_for_panel(page, level: str) -> None:
    expect(page.locator(f"{PANEL} .level-value")).to_have_text(level)


def consent_and_send(page, watch: Stopwatch, expected_boxes: int | None = None) -> dict:
    """From the review: the patient's consent for every external recipient asked, how it was given, send; the
    journey's figures written."""
    page.wait_for_url("**/form/review")
    watch.step("review")
    boxes = page.locator("article.review-recipient input[type=checkbox]").all()
    assert boxes and (expected_boxes is None or len(boxes) == expected_boxes), len(boxes)
    for box in boxes:
        box.check()
    page.get_by_label("Mondeling", exact=True).check()
    watch.step("review-consent")
    page.get_by_role("button", name="Versturen en vastleggen").click()
    page.wait_for_url("**/form/sent")
    expect(page.locator(".state-value")).to_have_text("afgeleverd")
    watch.step("sent")
    return watch.write()


def test_routine_case_in_at_most_eight_clicks_and_no_typing(journey):
    j = journey()
    page = j.page
    watch = Stopwatch(j, "routine")
    j.launch("demo-pregnant")
    expect(page.locator("h1")).to_have_text("Signalering kwetsbaarheid")
    watch.step("form")
    page.get_by_label("Financiële problematiek", exact=True).check()
    page.get_by_label("Taalbarrière", exact=True).check()
    wait_for_panel(page, "kwetsbaar")
    watch.step("form-ticked")
    page.get_by_role("button", name="Controleren en verder").click()
    result = consent_and_send(page, watch, expected_boxes=1)
    assert result["keystrokes"] == 0, result
    assert result["clicks"] <= GOALS["routine"]["clicks"], result


def test_domestic_violence_without_free_text_in_at_most_twelve_clicks(journey):
    j = journey()
    page = j.page
    watch = Stopwatch(j, "domestic-violence")
    j.launch("demo-child-1y")
    expect(page.locator("h1")).to_have_text("Signalering kwetsbaarheid")
    watch.step("form")
    page.get_by_label("Huiselijk geweld", exact=True).check()
    wait_for_panel(page, "urgent kwetsbaar")
    children = page.locator("#f-children-in-household")
    expect(children).to_be_visible()  # the kindcheck: how many children live in the household
    watch.step("form-ticked")  # (a step's check resizes the window: taken before typing, as resizing moves focus)
    children.click()
    children.press_sequentially("1")
    page.get_by_role("button", name="Controleren en verder").click()
    page.wait_for_url("**/form/meldcode")
    page.get_by_label(re.compile("Stap 1")).check()
    page.get_by_label(re.compile("Stap 2")).check()
    page.locator("#meldcode-informed-yes").check()
    watch.step("meldcode")
    page.get_by_role("button", name="Verder naar controleren").click()
    result = consent_and_send(page, watch)
    assert result["clicks"] <= GOALS["domestic-violence"]["clicks"], result
