"""The /fhir API against its own OpenAPI document (/fhir/openapi.json), with schemathesis: every operation of
the document, generated requests (bounded: a few hundred in all, derandomized, so every run sends the same), in
process against the WSGI app. No 5xx, every answer as the document says (status, content type, body schema), and
every error body an OperationOutcome."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from service import create_app
from tests.factories import make_qr

SEED = 20261201
EXAMPLES_PER_OPERATION = 10  # × the document's 35 operations: a few hundred requests


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app({"TESTING": True, "data_dir": tmp_path_factory.mktemp("openapi")})


@pytest.fixture(scope="module")
def api_schema(app):
    # Seeded, and without the coverage phase (hundreds of deterministic boundary cases per operation, unbounded by
    # max_examples): the fuzzing phase alone, EXAMPLES_PER_OPERATION each, derandomized.
    config = SchemathesisConfig.from_dict({"seed": SEED, "phases": {"coverage": {"enabled": False}}})
    return schemathesis.openapi.from_wsgi("/fhir/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schemathesis.check
def errors_are_operation_outcomes(ctx, response, case):
    """Under /fhir every refusal is a FHIR error: an OperationOutcome with at least one issue."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{response.status_code} without a JSON body") from None
    if not (isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" and body.get("issue")):
        raise AssertionError(f"{response.status_code} whose body is not an OperationOutcome: {str(body)[:200]}")
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    errors_are_operation_outcomes,
]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_openapi_document(case):
    case.call_and_validate(checks=CHECKS)


def test_the_document_lists_every_fhir_route(app):
    doc = app.test_client().get("/fhir/openapi.json").get_json()
    assert doc["openapi"].startswith("3.") and doc["servers"][0]["url"].endswith("/fhir")
    rules = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/fhir")}
    assert len(doc["paths"]) >= len(rules)
    for path in ("/QuestionnaireResponse", "/QuestionnaireResponse/{rid}", "/OperationDefinition/{rid}"):
        assert path in doc["paths"]
    assert set(doc["paths"]["/QuestionnaireResponse"]) == {"post"}
    assert {"get", "post"} <= set(doc["paths"]["/QuestionnaireResponse/{rid}/$referral-status"])


def test_a_real_response_keeps_to_the_document_too(app, api_schema):
    """Beyond generated bodies: a valid response, created and read back, conforms as well."""
    client = app.test_client()
    created = client.post("/fhir/QuestionnaireResponse", json=make_qr(identifier="openapi-1"))
    operation = api_schema["/QuestionnaireResponse"]["POST"]
    case = operation.Case(body=make_qr(identifier="openapi-1"), media_type="application/fhir+json")
    case.call_and_validate(checks=CHECKS)
    read = api_schema["/QuestionnaireResponse/{rid}"]["GET"]
    read.Case(path_parameters={"rid": created.get_json()["id"]}).call_and_validate(checks=CHECKS)
