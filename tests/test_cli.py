"""`kansrijk validate|evaluate|extract|submit|outbox|audit`: exit codes, plain Dutch, the OperationOutcome on stderr;
and `make run` (python -m service.run): a port it cannot have in one line, the address to open as its last line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from service.cli import main
from service.config import SettingsInvalid

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def test_validate_ok(capsys):
    assert main(["validate", str(EXAMPLES / "pregnant-urgent.json")]) == 0
    assert "geldig" in capsys.readouterr().out


def test_validate_invalid_exit_2_with_outcome_on_stderr(capsys):
    assert main(["validate", str(EXAMPLES / "invalid.json")]) == 2
    err = json.loads(capsys.readouterr().err)
    assert err["resourceType"] == "OperationOutcome" and len(err["issue"]) == 2


def test_evaluate_in_plain_dutch(capsys):
    assert main(["evaluate", str(EXAMPLES / "pregnant-urgent.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("LET OP: Huiselijk geweld")
    assert "Niveau: urgent kwetsbaar" in out and "Regiocoördinator Jeugdgezondheidszorg" in out
    assert "regel jgz-pregnant-or-young-child" in out and "op grond van:" in out


def test_evaluate_english_and_consent_missing(capsys):
    assert main(["evaluate", "--lang", "en", str(EXAMPLES / "no-consent.json")]) == 0
    out = capsys.readouterr().out
    assert "NOT SENT: consent missing" in out and "nothing leaves the practice" in out


def test_extract_prints_bundle(capsys):
    assert main(["extract", str(EXAMPLES / "postpartum-vulnerable.json")]) == 0
    bundle = json.loads(capsys.readouterr().out)
    assert bundle["type"] == "collection"
    record = bundle["entry"][0]["resource"]
    assert record["type"] == "transaction"
    assert [e["resource"]["resourceType"] for e in record["entry"]].count("ServiceRequest") == 1


def test_extract_invalid_and_unreadable(tmp_path, capsys):
    assert main(["extract", str(EXAMPLES / "invalid.json")]) == 2
    capsys.readouterr()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["extract", str(bad)]) == 2
    assert json.loads(capsys.readouterr().err)["issue"][0]["code"] == "structure"
    assert main(["validate", str(tmp_path / "missing.json")]) == 2


def test_region_option(capsys):
    assert main(["--region", "voorbeeldstad", "evaluate", str(EXAMPLES / "postpartum-vulnerable.json")]) == 0
    assert "Niveau: aandacht" in capsys.readouterr().out


def test_submit_without_server_queues_and_outbox_lists_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KS_FHIR_BASE_URL", raising=False)
    monkeypatch.delenv("KS_DESTINATIONS", raising=False)
    assert main(["submit", str(EXAMPLES / "pregnant-urgent.json")]) == 0
    out = capsys.readouterr().out
    assert "in de wachtrij" in out and "geen FHIR-server ingesteld" in out
    assert main(["outbox", "list"]) == 0
    listing = capsys.readouterr().out
    assert "pending" in listing and "pending: 1" in listing
    item_id = listing.split()[0]
    assert main(["outbox", "show", item_id]) == 0
    assert main(["outbox", "show", "nope"]) == 2


def test_audit_export_for_an_inspection_request(tmp_path, monkeypatch, capsys):
    import csv
    import io
    import json

    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KS_FHIR_BASE_URL", raising=False)
    assert main(["submit", str(EXAMPLES / "pregnant-urgent.json")]) == 0
    capsys.readouterr()
    bsn = "http://fhir.nl/fhir/NamingSystem/bsn|999990020"  # the example's patient travels contained, by BSN
    assert main(["audit", "--patient", bsn]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["event"] for r in rows] == ["submit"] and rows[0]["patient_identifier"] == bsn
    assert "1 audit row(s)" in captured.err
    assert main(["audit", "--patient", bsn, "--patient", "Patient/nobody", "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["event"] for r in table] == ["submit", "audit-export"]  # the first export is itself on record
    assert main(["audit", "--patient", "Patient/nobody"]) == 0
    assert capsys.readouterr().out.count("audit-export") == 1  # …for that patient too


def test_submit_without_a_server_says_what_it_stored_where_and_how_to_send_it(
    tmp_path, monkeypatch, capsys, sekmet_servers
):
    """No KS_FHIR_BASE_URL, no KS_DESTINATIONS: stored in the outbox (the file named), nothing sent, how to set a
    server; exit 0 because it is stored, and `outbox retry` with a server set then delivers it."""
    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KS_FHIR_BASE_URL", raising=False)
    monkeypatch.delenv("KS_DESTINATIONS", raising=False)
    assert main(["submit", str(EXAMPLES / "pregnant-urgent.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    dutch, english = lines[-2:]
    outbox = str((tmp_path / "outbox.sqlite3").resolve())
    assert dutch.startswith("Niets verstuurd: de inzending staat in de outbox (" + outbox + ")"), dutch
    assert english.startswith("Nothing sent: the submission is stored in the outbox (" + outbox + ")"), english
    for line in (dutch, english):
        assert "KS_FHIR_BASE_URL" in line and "KS_DESTINATIONS" in line and "`kansrijk outbox retry`" in line

    server = sekmet_servers.get("cli-retry")
    monkeypatch.setenv("KS_FHIR_BASE_URL", server.base_url)
    assert main(["outbox", "retry"]) == 0
    assert "delivered: 1" in capsys.readouterr().out
    found = requests.get(f"{server.base_url}/ServiceRequest", timeout=10).json()
    assert found.get("total", len(found.get("entry", []))) >= 1


def test_submit_with_nothing_to_send_says_nothing_about_a_server(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KS_FHIR_BASE_URL", raising=False)
    monkeypatch.delenv("KS_DESTINATIONS", raising=False)
    assert main(["submit", str(EXAMPLES / "no-consent.json")]) == 0
    out = capsys.readouterr().out
    assert "niets verstuurd: alles blijft in de praktijk" in out and "KS_FHIR_BASE_URL" not in out


# ── make run (python -m service.run) ────────────────────────────────────────────────────────────────────────────


def _run_env(tmp_path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KS_")}
    return {**env, "KS_DATA_DIR": str(tmp_path), "KS_OUTBOX_WORKER": "off", "PYTHONUNBUFFERED": "1", **settings}


@pytest.fixture()
def taken_port():
    """A port something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("setting", ["KS_PORT", "KS_FHIR_PORT"])
def test_make_run_on_a_taken_port_says_so_in_one_line_and_exits_2(tmp_path, taken_port, setting):
    from service.embedded.sekmet import free_port

    env = _run_env(tmp_path, **{setting: str(taken_port)})
    if setting == "KS_FHIR_PORT":
        env["KS_PORT"] = str(free_port())
    done = subprocess.run(
        [sys.executable, "-m", "service.run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout == ""  # nothing started before the port was found taken
    [line] = done.stderr.splitlines()
    dutch, english = line.split(" / ")
    assert dutch.startswith(f"Poort {taken_port} is al in gebruik") and f"{setting}=" in dutch, line
    assert english.startswith(f"Port {taken_port} is already in use") and f"{setting}=" in english, line
    suggested = int(dutch.split(f"{setting}=")[1].split()[0])
    assert suggested != taken_port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", suggested))  # the port it suggests is one that is free
    assert not (tmp_path / "fhir-server").exists()  # no embedded server was started


def test_make_run_with_the_ehr_server_on_its_own_port_says_so_in_one_line(tmp_path):
    from service.embedded.sekmet import free_port

    port = str(free_port())
    env = _run_env(tmp_path, KS_PORT=port, KS_FHIR_PORT=port)
    done = subprocess.run(
        [sys.executable, "-m", "service.run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"Poort {port} is al in gebruik") and "KS_FHIR_PORT=" in line, line


def test_make_run_prints_the_address_to_open_as_its_last_line(tmp_path):
    """The demo's address is the last line `make run` prints: after the embedded servers, the demo data and the
    app are up, nothing follows it (no Flask banner) while it serves; the address answers."""
    from service.embedded.sekmet import free_port
    from service.run import _is_free

    # The app's port is the first destination's default (KS_FHIR_PORT + 1): that server moves to a free one.
    fhir_port = next(p for p in iter(free_port, None) if p < 65535 and _is_free("127.0.0.1", p + 1))
    port = fhir_port + 1
    env = _run_env(tmp_path, KS_PORT=str(port), KS_FHIR_PORT=str(fhir_port))
    service = subprocess.Popen(
        [sys.executable, "-m", "service.run"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed = []
        for line in service.stdout:  # until the line with the address (or the end, if it stops early)
            printed.append(line.rstrip("\n"))
            if "/sandbox/launch" in line:
                break
        assert printed and "/sandbox/launch" in printed[-1], "\n".join(printed) + service.stderr.read()
        last = printed[-1]
        url, inbox = f"http://127.0.0.1:{port}/sandbox/launch", f"http://127.0.0.1:{port}/inbox"
        assert last == (
            f"Kansrijke Start draait: open {url} om als huisarts door het formulier te klikken, {inbox} als "
            f"coördinator (stoppen: Ctrl-C) / Kansrijke Start is running: open {url} to click through the form as "
            f"a GP, {inbox} as a coordinator (stop: Ctrl-C)"
        )
        assert any(line.startswith("Demo data loaded:") for line in printed)
        recipients = [line for line in printed if line.startswith("Recipients' server for destination")]
        assert len(recipients) == 3 and not any(f":{port}/" in line for line in recipients), recipients
        assert requests.get(url, timeout=30).status_code == 200  # it serves, at the address printed
        service.send_signal(signal.SIGTERM)
        assert service.wait(60) == 0
        assert service.stdout.read().strip() == ""  # nothing after it
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(10)
        service.stdout.close()
        service.stderr.close()


def test_the_public_url_follows_the_port_unless_set():
    """KS_PUBLIC_URL unset: http://{KS_HOST}:{KS_PORT} (a wildcard host as loopback), so the SMART redirect URI
    of `KS_PORT=8000 make run` is on port 8000; set, it is taken as it is."""
    from service.config import load_settings

    assert load_settings({}).public_url == "http://127.0.0.1:8080"
    assert load_settings({"KS_PORT": "8000"}).public_url == "http://127.0.0.1:8000"
    assert load_settings({"KS_HOST": "0.0.0.0", "KS_PORT": "8001"}).public_url == "http://127.0.0.1:8001"
    assert load_settings({"KS_HOST": "localhost", "KS_PORT": "8002"}).public_url == "http://localhost:8002"
    set_url = {"KS_PORT": "8000", "KS_PUBLIC_URL": "https://ks.example.nl"}
    assert load_settings(set_url).public_url == "https://ks.example.nl"
    with pytest.raises(SettingsInvalid) as err:
        load_settings({"KS_PORT": "eighty", "KS_FHIR_PORT": "70000"})
    assert "KS_PORT='eighty' is not a valid int" in str(err.value)
    assert "KS_FHIR_PORT must be a port number from 1 to 65535, not 70000" in str(err.value)


def test_the_readmes_settings_are_those_of_service_config():
    """README "Settings" lists every KS_* setting service/config.py reads, and no other, in its first column."""
    import re
    from dataclasses import fields

    from service.config import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    listed = {
        name
        for row in table.splitlines()
        if row.startswith("| `KS_")
        for name in re.findall(r"`(KS_[A-Z_]+)`", row.split(" | ")[0])
    }
    assert listed == {f"KS_{f.name.upper()}" for f in fields(Settings)}


def test_the_readme_names_only_files_in_the_repository():
    """A newcomer has only the checkout: every path the README names is in it, and nothing outside it."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for outside in ("../", "/work/", "shared/", "DOMAIN.md", "DESIGN.md", "SMART-LAUNCH.md"):
        assert outside not in readme, outside
    named = set(re.findall(r"`((?:service|examples|tests|docs|benchmarks)/[^`\s]*)`", readme))
    missing = sorted(p for p in named if not any(c in p for c in "<{*…") and not (ROOT / p).exists())
    assert len(named) > 20 and missing == []
