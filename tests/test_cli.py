"""`kansrijk validate|evaluate|extract`: exit codes, plain Dutch, the OperationOutcome on stderr."""

from __future__ import annotations

import json
from pathlib import Path

from service.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


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
    assert main(["audit", "--patient", "Patient/demo-pregnant"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["event"] for r in rows] == ["submit"] and rows[0]["patient"] == "Patient/demo-pregnant"
    assert "1 audit row(s)" in captured.err
    assert main(["audit", "--patient", "Patient/demo-pregnant", "--patient", "Patient/nobody", "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["event"] for r in table] == ["submit", "audit-export"]  # the first export is itself on record
    assert main(["audit", "--patient", "Patient/nobody"]) == 0
    assert capsys.readouterr().out.count("audit-export") == 1  # …for that patient too
