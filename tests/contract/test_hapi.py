"""What HAPI FHIR alone is here for (tests/contract/hapi): its on-write validation accepts every golden Bundle, and
the demo data loader of docker-compose.yml loads into it (the same HAPI release and settings, tests/test_compose.py).

The on-write validation is HAPI's RequestValidatingInterceptor against the R4 core definitions and the project's
own StructureDefinitions, CodeSystems, ValueSets and Questionnaire (service/data/questionnaires); the test server
applies it to the requests that carry the header below (README.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((ROOT / "tests" / "golden").glob("*/expected-bundle.json"))
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
VALIDATE = {**FHIR_JSON, "X-Validate-On-Write": "true"}
OUTCOME_HEADER = "X-Validation-Outcome"
WARNINGS_FILE = ROOT / "tests" / "artifacts" / "hapi-on-write-warnings.txt"
RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def _transactions() -> list[tuple[str, dict]]:
    """Every transaction of every golden $extract answer: the practice's record and each destination's Bundle."""
    out = []
    for path in GOLDEN:
        for entry in json.loads(path.read_text(encoding="utf-8"))["entry"]:
            out.append((path.parent.name, entry["resource"]))
    return out


def _references(value) -> set[str]:
    if isinstance(value, dict):
        found = {value["reference"]} if isinstance(value.get("reference"), str) else set()
        return found.union(*(_references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value))
    return set()


def _known_targets(http: requests.Session, base: str, bundle: dict) -> None:
    """The resources outside the Bundle that it points at (`Patient/<id>` of the practice's record, ...): on the
    server first, as HAPI's referential integrity requires; minimal, and written without validation."""
    for reference in sorted(_references(bundle)):
        match = RELATIVE.match(reference)
        if match:
            rtype, rid = match.groups()
            written = http.put(f"{base}/{rtype}/{rid}", json={"resourceType": rtype, "id": rid}, headers=FHIR_JSON)
            assert written.status_code in (200, 201), (reference, written.text[:500])


def _issues(response: requests.Response, severities: tuple[str, ...]) -> list[str]:
    outcome = response.headers.get(OUTCOME_HEADER) or (response.text if response.status_code >= 400 else "")
    if not outcome:
        return []
    issues = json.loads(outcome).get("issue", [])
    return [
        f"{i.get('severity')}: {i.get('diagnostics')} @ {(i.get('location') or ['?'])[0]}"  # no line and column
        for i in issues
        if i.get("severity") in severities
    ]


def test_every_golden_bundle_is_accepted_by_hapi_validating_on_write(http, hapi_base_url):
    transactions = _transactions()
    assert len(GOLDEN) >= 25 and len(transactions) >= 40
    warnings: dict[str, set[str]] = {}
    for case, bundle in transactions:
        _known_targets(http, hapi_base_url, bundle)
        response = http.post(hapi_base_url, json=bundle, headers=VALIDATE)
        assert response.status_code == 200, (case, _issues(response, ("fatal", "error")) or response.text[:2000])
        assert response.json()["type"] == "transaction-response"
        for warning in _issues(response, ("warning",)):
            warnings.setdefault(warning, set()).add(case)
    WARNINGS_FILE.parent.mkdir(parents=True, exist_ok=True)
    WARNINGS_FILE.write_text(
        "".join(f"{w}\n    in: {', '.join(sorted(cases))}\n" for w, cases in sorted(warnings.items())),
        encoding="utf-8",
    )


def test_the_on_write_validation_refuses_what_breaks_a_profile(http, hapi_base_url):
    """The control: the same validation refuses a golden Bundle with one ServiceRequest.status outside its
    required ValueSet (422, the element named), which the plain endpoint stores as it is."""
    case, bundle = next((c, b) for c, b in _transactions() if any(_is_sr(e) for e in b["entry"]))
    _known_targets(http, hapi_base_url, bundle)
    broken = json.loads(json.dumps(bundle))
    next(e for e in broken["entry"] if _is_sr(e))["resource"]["status"] = "sent"
    refused = http.post(hapi_base_url, json=broken, headers=VALIDATE)
    assert refused.status_code == 422, (case, refused.text[:1000])
    errors = _issues(refused, ("error",))
    assert any("ServiceRequest.status" in e or "'sent'" in e for e in errors), errors


def _is_sr(entry: dict) -> bool:
    return entry["resource"]["resourceType"] == "ServiceRequest"


@pytest.mark.parametrize("service", ["demo-data", "demo-recipients"])
def test_the_compose_demo_data_loader_loads_into_hapi(hapi_base_url, http, service):
    """docker-compose.yml's one-off loaders, the same command and environment, against the tested HAPI: twice (the
    compose file says it is safe to repeat), and what they load is there afterwards."""
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"][service]
    command = spec["command"]
    assert command[0] == "kansrijk"
    environment = {**os.environ, **{k: str(v) for k, v in spec["environment"].items()}}
    environment["KS_FHIR_BASE_URL"] = hapi_base_url
    kansrijk = str(Path(sys.executable).with_name("kansrijk"))
    for _ in range(2):
        run = subprocess.run([kansrijk, *command[1:]], capture_output=True, text=True, env=environment, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "loaded into" in run.stdout
    organizations = http.get(f"{hapi_base_url}/Organization", params={"_summary": "count"}, headers=FHIR_JSON)
    assert organizations.json()["total"] >= 2
    patients = http.get(f"{hapi_base_url}/Patient", params={"_summary": "count"}, headers=FHIR_JSON).json()["total"]
    if service == "demo-data":
        assert patients >= 1
