"""Browser tests: Debian's Chromium (headless) driven by Playwright against the app on a loopback port.

The app runs as in production (gunicorn, a subprocess) against two real sekmet-fhir servers: the EHR's (with the demo
data; the sandbox EHR serves it) and the recipients' (the one destination every external recipient is sent to, by
KS_DESTINATIONS), so a journey can tell what stayed in the practice from what left it. With the
sandbox EHR present (service/sandbox/views.py) it runs with KS_SANDBOX=1 and every journey starts with a
real SMART EHR launch (/sandbox/launch?patient=…&user=…); without it, a launch session is stored the
way the SMART callback stores one and the browser gets its cookie. A browser that cannot start fails
the tests with the reason — they never skip. axe-core comes from tests/browser/package-lock.json.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from service.embedded.sekmet import free_port
from service.smart.session import COOKIE_NAME, SessionStore
from tests.web.helpers import launch_session

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
SANDBOX = (ROOT / "service" / "sandbox" / "views.py").exists()


@pytest.fixture(scope="session")
def fhir_server(sekmet_servers) -> str:
    """The EHR's server (KS_FHIR_BASE_URL; the sandbox EHR in front of it): the practice's patients and record."""
    return sekmet_servers.get("browser-fhir", demo=True).base_url


@pytest.fixture(scope="session")
def recipients_server(sekmet_servers) -> str:
    """The recipients' server: empty at the start, as a GGD's knows none of the practice's patients."""
    return sekmet_servers.get("browser-recipients").base_url


RECIPIENTS_NAME = "GGD Zuid Limburg (testserver)"


def _destinations(folder: Path, base_url: str) -> Path:
    """KS_DESTINATIONS: every destination the mappings name, on the recipients' server."""
    path = folder / "destinations.yaml"
    names = {
        "ggd-zuid-limburg": RECIPIENTS_NAME,
        "centrum-jong-voorbeeldstad": "Centrum Jong Voorbeeldstad",
        "verloskundigen-voorbeeldstad": "Verloskundigen Voorbeeldstad",
    }
    path.write_text(
        yaml.safe_dump({"destinations": [{"id": k, "name": v, "base_url": base_url} for k, v in names.items()]}),
        encoding="utf-8",
    )
    return path


@dataclass
class LiveApp:
    sessions: SessionStore  # the app's launch sessions (its SQLite file), for launches without the sandbox
    base_url: str
    fhir: str  # the EHR's server
    recipients: str  # the recipients' server (every external destination)
    sandbox: bool


@pytest.fixture(scope="session")
def live_app(tmp_path_factory, fhir_server, recipients_server) -> Iterator[LiveApp]:
    """The production server (gunicorn) on a free loopback port. One worker process: the sandbox EHR keeps its
    launches and tokens in memory (service/sandbox/views.py), so every request must reach the same process."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tmp_path_factory.mktemp("browser-data")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KS_")},
        "KS_DATA_DIR": str(data),
        "KS_FHIR_BASE_URL": fhir_server,
        "KS_PUBLIC_URL": base,
        "KS_DESTINATIONS": str(_destinations(data, recipients_server)),
        "KS_SANDBOX": "1" if SANDBOX else "0",
        "KS_OUTBOX_WORKER": "off",
        # the product's own poll of the recipients' Tasks (service/referrals/feedback.py), with a floor of a second
        # instead of Gravity's 15 minutes, so the GP's pages catch up within a journey (tests/browser/test_inbox.py)
        "KS_FEEDBACK_POLLER": "on",
        "KS_FEEDBACK_INTERVAL": "1",
        "KS_FEEDBACK_MIN_INTERVAL": "1",
        "KS_LOG_LEVEL": "WARNING",
    }
    log_path = data / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:service.gunicorn_conf",
                "-w",
                "1",
                "--threads",
                "8",
                "-b",
                f"127.0.0.1:{port}",
                "service:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        _wait_until_up(base, process, log_path)
        yield LiveApp(
            sessions=SessionStore(data / "sessions.sqlite3"),
            base_url=base,
            fhir=fhir_server,
            recipients=recipients_server,
            sandbox=SANDBOX,
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_until_up(base: str, process: subprocess.Popen, log_path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the app (gunicorn) exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(f"{base}/fhir/metadata", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(
        f"the app did not answer within {timeout:.0f} s:\n{log_path.read_text(errors='replace')[-3000:]}", pytrace=False
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (`make browser-deps`, which runs "
            "`apt-get install -y chromium`); the browser tests never download a browser",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is missing: pip install -e '.[test]'", pytrace=False)
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    except Exception as exc:
        pw.stop()
        pytest.fail(f"Chromium ({CHROMIUM}) could not be started by Playwright: {exc}", pytrace=False)
    try:
        yield chromium
    finally:
        chromium.close()
        pw.stop()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(
                "axe-core is not installed and npm is missing: run `npm ci --prefix tests/browser`", pytrace=False
            )
        subprocess.run([npm, "ci", "--prefix", str(HERE), "--no-audit", "--no-fund", "--loglevel=error"], check=True)
    return AXE.read_text(encoding="utf-8")


WIDE = {"width": 1280, "height": 800}  # a GP's screen
NARROW = {"width": 400, "height": 800}  # a phone, or the EHR's side pane
AXE_RUN = """() => axe.run(document, {
      runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
      resultTypes: ['violations']})
    .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})))"""


class Journey:
    """One browser context: launches, screenshots every step, checks each page with axe-core and for CSP errors,
    at both widths (1280×800 and 400×800)."""

    def __init__(self, name: str, live: LiveApp, browser, axe_source: str, *, javascript: bool = True):
        self.name, self.live, self.axe_source, self.javascript = name, live, axe_source, javascript
        self.context = browser.new_context(java_script_enabled=javascript, viewport=WIDE, locale="nl-NL")
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda msg: self.console.append(msg.text) if msg.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))
        self.step = 0
        self._axe_page = None  # without JavaScript: a JS-enabled page that axe-core runs in
        self._browser = browser
        self.folder = ARTIFACTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)

    def url(self, path: str) -> str:
        return self.live.base_url + path

    def launch(self, patient: str, user: str = "demo-gp") -> None:
        """Open the app for a patient as a user: the sandbox EHR launch, or a stored launch session."""
        if self.live.sandbox:
            self.page.goto(self.url(f"/sandbox/launch?patient={patient}&user={user}"))
            self.page.wait_for_url("**/form", timeout=20_000)
            return
        ctx = launch_session(self.live.sessions, iss=self.live.fhir, patient=patient, user=user)
        self.context.add_cookies([{"name": COOKIE_NAME, "value": ctx.session_id, "url": self.live.base_url}])
        self.page.goto(self.url("/form"))

    def shot(self, label: str, full_page: bool = True) -> Path:
        self.step += 1
        path = self.folder / f"{self.step:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def check(self, label: str) -> None:
        """At 1280×800 and at 400×800: a screenshot ("<label>", "<label>-400"), no serious or critical axe-core
        violation; then no CSP violation, no script error. The page is left at 1280×800."""
        try:
            for size, suffix in ((WIDE, ""), (NARROW, "-400")):
                self.page.set_viewport_size(size)
                self.shot(label + suffix)
                self.assert_accessible(f"{label}{suffix}", size)
        finally:
            self.page.set_viewport_size(WIDE)
        csp = [m for m in self.console if "Content Security Policy" in m or "pageerror" in m]
        assert not csp, f"{self.name}/{label}: {csp}"

    def assert_accessible(self, label: str, size: dict) -> None:
        """No serious or critical axe-core violation on the page as it is now, at this viewport size."""
        target = self.page
        if not self.javascript:
            # axe-core's promises need timers, which do not run where scripts are disabled: check the same
            # markup (scripts removed, styles kept) in a page that runs scripts.
            if self._axe_page is None:
                self._axe_page = self._browser.new_context(viewport=size).new_page()
            self._axe_page.set_viewport_size(size)
            html = re.sub(r"<script\b[^>]*>.*?</script>", "", self.page.content(), flags=re.S)
            html = html.replace("<head>", f'<head><base href="{self.live.base_url}/">', 1)
            self._axe_page.set_content(html, wait_until="load")
            target = self._axe_page
        target.evaluate(self.axe_source + "\n;void 0")
        violations = target.evaluate(AXE_RUN)
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not bad, f"{self.name}/{label}: accessibility violations: {bad}"

    def close(self) -> None:
        self.context.close()
        if self._axe_page is not None:
            self._axe_page.context.close()


@pytest.fixture()
def journey(live_app, browser, axe_source, request):
    made: list[Journey] = []

    def make(javascript: bool = True, who: str | None = None) -> Journey:
        """A journey; `who` names it when a test has several (their screenshots in tests/artifacts/<test>/<who>/)."""
        name = request.node.name.removeprefix("test_") + (f"/{who}" if who else "")
        j = Journey(name, live_app, browser, axe_source, javascript=javascript)
        made.append(j)
        return j

    yield make
    for j in made:
        j.close()
