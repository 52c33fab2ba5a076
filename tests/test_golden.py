"""Golden cases: QuestionnaireResponse in → decision and referral Bundle out (or the OperationOutcome).

Expected files are written by tests/golden/make_cases.py --expected and reviewed by hand; this test
also checks, independently of them, what every produced Bundle must be.
"""

from __future__ import annotations

import json
import re
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


def check_bundle_invariants(extraction: dict, decision: dict) -> None:
    """What every $extract answer must be, whatever the case: the practice's record and one transaction per
    external destination; only consented external recipients travel, each Bundle self-contained."""
    assert extraction["type"] == "collection"
    record, *deliveries = [e["resource"] for e in extraction["entry"]]
    sent = [r for r in decision["recommendations"] if r["status"] == "refer"]
    record_types = _check_transaction(record)
    srs = [e["resource"] for e in record_types.get("ServiceRequest", [])]
    assert sorted(sr["code"]["coding"][0]["code"] for sr in srs) == sorted(_referral_code(r["recipient"]) for r in sent)
    assert len(record_types["QuestionnaireResponse"]) == 1 and len(record_types["Provenance"]) == 1
    internal = [sr for sr in srs if sr["code"]["coding"][0]["code"] in INTERNAL]
    assert len(record_types.get("Task", [])) == len(internal)  # the practice's own worklist: internal referrals only
    for sr in srs:
        assert sr["status"] == "active" and sr["intent"] == "order"
        assert any(
            c["system"] == urls.CS_LEVEL and c["code"] == decision["level"]
            for rc in sr["reasonCode"]
            for c in rc["coding"]
        )
    external = len(srs) - len(internal)
    if decision["consentMissing"] or not decision.get("consentGiven"):
        assert "Consent" not in record_types and deliveries == [] and external == 0  # no consent: nothing leaves
    else:
        assert len(record_types.get("Consent", [])) == external  # one per external recipient, as recorded
    travelled = 0
    for bundle in deliveries:
        by_type = _check_transaction(bundle)
        assert "QuestionnaireResponse" not in by_type  # only the reduced answers, contained in the ServiceRequest
        assert len(bundle["entry"]) <= 8  # Medplum's limit for transactions with conditional creates
        for entry in by_type["ServiceRequest"]:
            sr = entry["resource"]
            assert sr["code"]["coding"][0]["code"] not in INTERNAL
            [answers] = [c for c in sr["contained"] if c["resourceType"] == "QuestionnaireResponse"]
            # The label on the container, none on the contained answers (R4 dom-5)
            assert sr["meta"]["security"][0]["code"] == "REDACTED" and "meta" not in answers
            assert "subject" not in answers
            assert not {"safety", "assessment"} & {i["linkId"] for i in answers.get("item", [])}
            consents = [
                e["resource"] for e in by_type.get("Consent", []) if {"reference": e["fullUrl"]} in sr["supportingInfo"]
            ]
            assert len(consents) == 1 and len(consents[0]["provision"]["actor"]) == 1  # naming that recipient alone
            travelled += 1
        assert len(by_type["Task"]) == len(by_type["ServiceRequest"]) and len(by_type["Provenance"]) == 1
        assert "extension" not in by_type["Provenance"][0]["resource"]  # the override and its reason stay home
    assert travelled == external


INTERNAL = ("poh-jeugd", "preconceptie-consult")


def _check_transaction(bundle: dict) -> dict[str, list[dict]]:
    """Every resource validates as its R4 model and requests are idempotent."""
    assert bundle["type"] == "transaction"
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(full_urls) == len(set(full_urls))
    by_type: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        models.parse_resource(resource)
        by_type.setdefault(resource["resourceType"], []).append(entry)
        if entry["request"]["method"] == "POST":
            assert entry["request"]["ifNoneExist"].startswith("identifier=")
        else:
            assert entry["request"]["url"] == f"{resource['resourceType']}/{resource['id']}"
    return by_type  # references: test_every_reference_resolves_in_its_bundle


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


@pytest.mark.parametrize("case_dir", [c for c in CASES if (c / "expected-bundle.json").exists()], ids=lambda p: p.name)
def test_every_reference_resolves_in_its_bundle(case_dir: Path):
    """Each transaction is self-contained (bundle.html#references): a reference is an entry's fullUrl, a
    contained resource of the same resource (#id), or logical (by identifier, no `reference`). The one exception
    is what the caller gave: the response's own literal `subject` and `author`, passed through as the README's
    API section says (they must exist on the receiving server, as the practice's EHR has them)."""
    request = json.loads((case_dir / "request.json").read_text())
    if request["resourceType"] == "Parameters":
        request = next(p["resource"] for p in request["parameter"] if "resource" in p)
    given = {(request.get(k) or {}).get("reference") for k in ("subject", "author")} - {None}
    given = {ref for ref in given if not ref.startswith("#")}
    for transaction in (e["resource"] for e in json.loads((case_dir / "expected-bundle.json").read_text())["entry"]):
        full_urls = {e["fullUrl"] for e in transaction["entry"]}
        for entry in transaction["entry"]:
            resource = entry["resource"]
            contained = {f"#{c['id']}" for c in resource.get("contained", ())}
            for ref in _references(resource):
                assert ref in full_urls or ref in contained or ref in given, (
                    f"{resource['resourceType']}: {ref} resolves neither in the Bundle nor to what the caller gave"
                )


def test_same_input_same_bundle():
    case = Path(__file__).parent / "golden" / "complex-two-urgent"
    assert run_case(case)["bundle"] == run_case(case)["bundle"]


SIMPLE_FHIRPATH = re.compile(r"^[A-Z][A-Za-z]+(\.[a-z][A-Za-z]*(\[\d+\])?)*$")


def _json_request(case_dir: Path) -> dict | None:
    try:
        body = json.loads((case_dir / "request.json").read_text())
    except (OSError, ValueError):
        return None  # a request that is not a JSON document (too large, malformed): no element to point at
    return body if isinstance(body, dict) else None


@pytest.mark.parametrize(
    "case_dir",
    [c for c in CASES if (c / "expected-outcome.json").exists() and _json_request(c) is not None],
    ids=lambda p: p.name,
)
def test_issue_expressions_are_simple_and_select_one_node(case_dir: Path):
    """OperationOutcome.issue.expression is "a simple subset of FHIRPath limited to element names, repetition
    indicators and the default child accessor that identifies one of the elements in the resource that caused
    this issue" (R4 operationoutcome-definitions.html): each selects exactly one node of the request."""
    import fhirpathpy

    body = _json_request(case_dir)
    assert body is not None
    for issue in json.loads((case_dir / "expected-outcome.json").read_text())["issues"]:
        for expression in issue.get("expression", ()):
            assert SIMPLE_FHIRPATH.match(expression), expression
            if body.get("resourceType") == expression.split(".")[0]:
                assert len(fhirpathpy.evaluate(body, expression)) == 1, expression
