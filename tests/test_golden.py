"""Golden cases: QuestionnaireResponse in → decision and referral Bundle out (or the OperationOutcome).

Expected files are written by tests/golden/make_cases.py --expected and reviewed by hand; this test
also checks, independently of them, what every produced Bundle must be.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.fhir import models, urls
from tests.golden.runner import run_case

CASES = sorted(p.parent for p in Path(__file__).parent.glob("golden/*/case.json"))


def test_enough_cases():
    assert len(CASES) >= 30
    assert sum(1 for c in CASES if (c / "expected-outcome.json").exists()) >= 15


@pytest.mark.parametrize("case_dir", CASES, ids=lambda p: p.name)
def test_golden_case(case_dir: Path):
    result = run_case(case_dir)
    expected = {p.stem.removeprefix("expected-"): json.loads(p.read_text()) for p in case_dir.glob("expected-*.json")}
    assert result == expected
    if "outcome" in result:
        assert 400 <= result["outcome"]["status"] < 500
        assert result["outcome"]["contentType"] == "application/fhir+json"
        return
    check_bundle_invariants(result["bundle"], result["decision"])


def check_bundle_invariants(bundle: dict, decision: dict) -> None:
    assert bundle["type"] == "transaction"
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(full_urls) == len(set(full_urls))
    by_type: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        models.parse_resource(resource)  # every resource validates as its FHIR R4 model
        by_type.setdefault(resource["resourceType"], []).append(entry)
        if entry["request"]["method"] == "POST":
            assert entry["request"]["ifNoneExist"].startswith("identifier=")
        else:
            assert entry["request"]["url"] == f"{resource['resourceType']}/{resource['id']}"
    local = set(full_urls) | {e["request"]["url"] for e in bundle["entry"] if e["request"]["method"] == "PUT"}
    for ref in _references(bundle):
        if ref.startswith("urn:uuid:") or ref.split("/")[0] in ("QuestionnaireResponse", "Provenance"):
            assert ref in local, f"dangling reference {ref}"
    sent = [r for r in decision["recommendations"] if r["status"] == "refer"]
    srs = [e["resource"] for e in by_type.get("ServiceRequest", [])]
    assert sorted(sr["code"]["coding"][0]["code"] for sr in srs) == sorted(
        _referral_code(r["recipient"]) for r in sent
    )
    assert len(by_type.get("Task", [])) == len(srs)
    for sr in srs:
        assert sr["status"] == "active" and sr["intent"] == "order"
        assert any(c["system"] == urls.CS_LEVEL and c["code"] == decision["level"] for rc in sr["reasonCode"] for c in rc["coding"])
    if decision["consentMissing"] or not decision.get("consentGiven"):
        assert "Consent" not in by_type  # no consent recorded, none claimed
        for sr in srs:
            assert sr["code"]["coding"][0]["code"] in ("poh-jeugd", "preconceptie-consult")
    else:
        assert len(by_type.get("Consent", [])) == (1 if srs else 0)  # one Consent naming every recipient
        if srs:
            actors = by_type["Consent"][0]["resource"]["provision"]["actor"]
            assert len(actors) == len(srs)
    assert len(by_type["QuestionnaireResponse"]) == 1 and len(by_type["Provenance"]) == 1


def _referral_code(recipient_id: str) -> str:
    return {"centrum-jong": "regiocoordinator-jgz"}.get(recipient_id, recipient_id)


def _references(value):
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                yield v
            else:
                yield from _references(v)
    elif isinstance(value, list):
        for v in value:
            yield from _references(v)


def test_same_input_same_bundle():
    case = Path(__file__).parent / "golden" / "complex-two-urgent"
    assert run_case(case)["bundle"] == run_case(case)["bundle"]
