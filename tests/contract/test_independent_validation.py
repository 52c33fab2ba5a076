"""Independent validation (issue 11): what we publish and what we send, through a validator we did not write.

Medplum's `validateResource` (@medplum/core, the same package the contract server runs) checks every resource
of every golden Bundle (each transaction whole, contained resources with it), every golden OperationOutcome, and
every artefact the API serves (CapabilityStatement, Questionnaire, terminology, OperationDefinitions,
StructureDefinitions), against the base FHIR R4 definitions. Zero errors is the bar; warnings are printed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.contract.conftest import MEDPLUM_DIR, _ensure_medplum_installed

GOLDEN = Path(__file__).parent.parent / "golden"
SERVED_TYPES = ("Questionnaire", "CodeSystem", "ValueSet", "ConceptMap", "OperationDefinition", "StructureDefinition")


def medplum_validate(items: list[tuple[str, dict]]) -> dict[str, list[dict]]:
    """label → Medplum's issues for that resource."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Medplum's validator needs Node.js >= 20 (`node` is not on PATH)", pytrace=False)
    _ensure_medplum_installed()
    payload = json.dumps([{"label": label, "resource": resource} for label, resource in items])
    done = subprocess.run(
        [node, "validate.mjs"], cwd=MEDPLUM_DIR, input=payload, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"validate.mjs failed: {done.stderr[-2000:]}"
    return {r["label"]: r["issues"] for r in json.loads(done.stdout)}


def errors_of(results: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return {label: [i for i in issues if i["severity"] in ("error", "fatal")] for label, issues in results.items()}


def golden_resources() -> list[tuple[str, dict]]:
    items = []
    for path in sorted(GOLDEN.glob("*/expected-bundle.json")):
        collection = json.loads(path.read_text())
        items.append((f"{path.parent.name}/collection", collection))
        for i, entry in enumerate(collection["entry"]):
            items.append((f"{path.parent.name}/transaction-{i}", entry["resource"]))
    for path in sorted(GOLDEN.glob("*/expected-outcome.json")):
        outcome = {"resourceType": "OperationOutcome", "issue": json.loads(path.read_text())["issues"]}
        items.append((f"{path.parent.name}/outcome", outcome))
    return items


def test_the_validator_finds_errors():
    """The check can fail: a resource with an unknown element and a wrong type is reported."""
    bad = {"resourceType": "ServiceRequest", "status": "active", "intent": "order", "subject": "Patient/x", "foo": 1}
    assert errors_of(medplum_validate([("bad", bad)]))["bad"]


def test_every_golden_bundle_and_outcome_validates():
    items = golden_resources()
    assert len(items) >= 60
    errors = {label: found for label, found in errors_of(medplum_validate(items)).items() if found}
    assert errors == {}


def served_artefacts(client) -> list[tuple[str, dict]]:
    items = [("metadata", client.get("/fhir/metadata").get_json())]
    for rtype in SERVED_TYPES:
        answer = client.get(f"/fhir/{rtype}")
        if answer.status_code == 404:  # a type the API does not serve (yet): nothing to check
            continue
        bundle = answer.get_json()
        items.append((f"{rtype} searchset", bundle))
        items += [(f"{rtype}/{e['resource'].get('id')}", e["resource"]) for e in bundle.get("entry", [])]
    return items


def test_every_served_artefact_validates(client):
    items = served_artefacts(client)
    assert {label.split("/")[0] for label, _ in items} >= {"Questionnaire", "CodeSystem", "ValueSet"}
    errors = {label: found for label, found in errors_of(medplum_validate(items)).items() if found}
    assert errors == {}


def test_what_a_create_answers_validates(client):
    """The create's answers (the stored response, the outcome as an OperationOutcome) and $referral-status."""
    from tests.factories import make_qr

    outcome = client.post(
        "/fhir/QuestionnaireResponse",
        json=make_qr(signals=("homeless",), identifier="medplum-create"),
        headers={"Prefer": "return=OperationOutcome"},
    )
    rid = outcome.headers["Location"].split("/")[-3]
    items = [
        ("create outcome", outcome.get_json()),
        ("read", client.get(f"/fhir/QuestionnaireResponse/{rid}").get_json()),
        ("$referral-status", client.get(f"/fhir/QuestionnaireResponse/{rid}/$referral-status").get_json()),
    ]
    errors = {label: found for label, found in errors_of(medplum_validate(items)).items() if found}
    assert errors == {}
