"""Issue 11, the API's exactness: what the CapabilityStatement claims is what is served, as FHIR defines it.

Operations by our own OperationDefinitions (stable canonicals, `base` SDC's or the core one), StructureDefinitions
for our extensions, a create that answers as one (Location, readable, Prefer), the referral outcome published
($referral-status, $submit), searchsets with a self link and `Prefer: handling=strict`, SMART discovery that says
what is there, and $populate refusing an unknown identifier.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from service import create_app
from service.errors import Issue
from service.fhir import urls
from tests.factories import make_qr

FHIR = {"Content-Type": "application/fhir+json"}
GOLDEN = Path(__file__).parent.parent / "golden"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# ---------------------------------------------------------------------------------------- operations as published


def operations(client, host: str = "localhost") -> dict[tuple[str, str], str]:
    cs = client.get("/fhir/metadata", base_url=f"http://{host}").get_json()
    return {
        (res["type"], op["name"]): op["definition"]
        for res in cs["rest"][0]["resource"]
        for op in res.get("operation", [])
    }


def test_every_claimed_operation_is_ours_served_and_host_independent(client):
    claimed = operations(client)
    assert claimed == operations(client, "elsewhere.example")  # not host-dependent
    assert set(claimed) == {
        ("Questionnaire", "populate"),
        ("QuestionnaireResponse", "validate"),
        ("QuestionnaireResponse", "evaluate"),
        ("QuestionnaireResponse", "extract"),
        ("QuestionnaireResponse", "submit"),
        ("QuestionnaireResponse", "referral-status"),
    }
    bases = {}
    for (rtype, code), canonical in claimed.items():
        assert canonical.startswith(f"{urls.BASE}/OperationDefinition/"), canonical
        od = client.get(f"/fhir/OperationDefinition/{canonical.rsplit('/', 1)[1]}").get_json()
        assert od["resourceType"] == "OperationDefinition" and od["url"] == canonical
        assert od["code"] == code and od["resource"] == [rtype]
        found = client.get(f"/fhir/OperationDefinition?url={canonical}").get_json()
        assert [e["resource"]["id"] for e in found["entry"]] == [od["id"]]
        bases[code] = od.get("base")
    assert bases == {
        "validate": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
        "extract": "http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract",
        "populate": "http://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-populate",
        "evaluate": None,
        "submit": None,
        "referral-status": None,
    }


def test_extract_publishes_sdc_4_outputs(client):
    od = client.get("/fhir/OperationDefinition/QuestionnaireResponse-extract").get_json()
    out = {p["name"]: p["type"] for p in od["parameter"] if p["use"] == "out"}
    assert out == {"return": "Bundle", "issues": "OperationOutcome"}


def submitted(client, **qr) -> dict:
    r = client.post("/fhir/QuestionnaireResponse", json=make_qr(signals=("homeless",), **qr))
    assert r.status_code in (200, 201), r.get_json()
    return r.get_json()


def test_instance_level_validate_and_extract_work_on_the_stored_response(client):
    qr = submitted(client, identifier="instance-ops")
    validated = client.get(f"/fhir/QuestionnaireResponse/{qr['id']}/$validate")
    assert validated.status_code == 200 and validated.get_json()["issue"][0]["severity"] == "information"
    extracted = client.post(f"/fhir/QuestionnaireResponse/{qr['id']}/$extract")
    assert extracted.status_code == 200 and extracted.get_json()["type"] == "collection"
    assert extracted.get_json() == client.post("/fhir/QuestionnaireResponse/$extract", json=qr).get_json()
    assert client.get("/fhir/QuestionnaireResponse/unknown-id/$validate").status_code == 404


def test_validate_refuses_what_it_cannot_check(client):
    qr = make_qr()
    other = client.post(
        "/fhir/QuestionnaireResponse/$validate?profile=http://example.org/StructureDefinition/x", json=qr
    )
    assert other.status_code == 400 and other.get_json()["issue"][0]["code"] == "not-supported"
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": qr},
            {"name": "profile", "valueUri": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaireresponse"},
        ],
    }
    assert client.post("/fhir/QuestionnaireResponse/$validate", json=params).status_code == 400
    base = "http://hl7.org/fhir/StructureDefinition/QuestionnaireResponse"
    ok = client.post(f"/fhir/QuestionnaireResponse/$validate?mode=profile&profile={base}", json=qr)
    assert ok.status_code == 200 and ok.get_json()["issue"][0]["severity"] == "information"
    for mode in ("update", "delete"):
        r = client.post(f"/fhir/QuestionnaireResponse/$validate?mode={mode}", json=qr)
        assert r.status_code == 400 and r.get_json()["issue"][0]["code"] == "not-supported"
    assert client.post("/fhir/QuestionnaireResponse/$validate?mode=sideways", json=qr).status_code == 400
    assert client.post("/fhir/QuestionnaireResponse/$validate?mode=profile", json=qr).status_code == 400


def test_validate_mode_create_reports_what_a_create_would_refuse(client):
    draft = make_qr(status="in-progress")
    plain = client.post("/fhir/QuestionnaireResponse/$validate", json=draft).get_json()
    assert plain["issue"][0]["severity"] == "information"  # a valid draft
    create = client.post("/fhir/QuestionnaireResponse/$validate?mode=create", json=draft).get_json()
    assert any(i["severity"] == "error" for i in create["issue"])
    assert client.post("/fhir/QuestionnaireResponse", json=draft).status_code == 422


def test_extract_with_issues_answers_return_and_issues(app, client, monkeypatch):
    engine = app.extensions["ks"].engine
    real = engine.extract

    def with_a_warning(*args, **kwargs):
        extraction = real(*args, **kwargs)
        warning = Issue(severity="warning", code="informational", text="Let op.", english="Mind.")
        validation = dataclasses.replace(extraction.validation, issues=(warning,))
        return dataclasses.replace(extraction, validation=validation)

    plain = client.post("/fhir/QuestionnaireResponse/$extract", json=make_qr()).get_json()
    assert plain["resourceType"] == "Bundle"  # no issues: the Bundle itself
    monkeypatch.setattr(engine, "extract", with_a_warning)
    answer = client.post("/fhir/QuestionnaireResponse/$extract", json=make_qr()).get_json()
    assert answer["resourceType"] == "Parameters"
    parts = {p["name"]: p["resource"] for p in answer["parameter"]}
    assert parts["return"] == plain and parts["issues"]["issue"][0]["severity"] == "warning"


# ---------------------------------------------------------------------------------------- our extensions


PRIMITIVES = {"String", "Code", "Boolean", "Uri", "Canonical", "Integer", "Decimal", "Date", "DateTime"}


def fhir_type(value_key: str) -> str:
    """valueString -> string, valueCoding -> Coding (FHIR's type codes: primitives start lower-case)."""
    name = value_key.removeprefix("value")
    return name[0].lower() + name[1:] if name in PRIMITIVES else name


def extension_uses() -> dict[str, set[tuple[str, str]]]:
    """Every one of our extensions in the golden Bundles: url -> {(resource type, value[x] or 'extension')}."""
    found: dict[str, set[tuple[str, str]]] = {}
    for path in GOLDEN.glob("*/expected-bundle.json"):
        for transaction in json.loads(path.read_text())["entry"]:
            for entry in transaction["resource"]["entry"]:
                resource = entry["resource"]
                for ext in resource.get("extension", []):
                    if ext["url"].startswith(urls.BASE):
                        kind = next((k for k in ext if k.startswith("value")), "extension")
                        found.setdefault(ext["url"], set()).add((resource["resourceType"], kind))
    return found


def test_our_extensions_have_served_structure_definitions_matching_their_use(client):
    uses = extension_uses()
    assert set(uses) >= {urls.EXT_DECISION_RULE, urls.EXT_CONSENT_METHOD, urls.EXT_LEVEL_OVERRIDE}
    searchset = client.get("/fhir/StructureDefinition").get_json()
    served = {e["resource"]["url"]: e["resource"] for e in searchset["entry"]}
    for url, where in uses.items():
        sd = served[url]
        assert client.get(f"/fhir/StructureDefinition?url={url}").get_json()["total"] == 1
        assert client.get(f"/fhir/StructureDefinition/{sd['id']}").get_json() == sd
        assert sd["type"] == "Extension" and sd["derivation"] == "constraint"
        assert sd["baseDefinition"] == "http://hl7.org/fhir/StructureDefinition/Extension"
        contexts = {c["expression"] for c in sd["context"] if c["type"] == "element"}
        elements = {e["id"]: e for e in sd["differential"]["element"]}
        assert elements["Extension.url"]["fixedUri"] == url
        for rtype, kind in where:
            assert rtype in contexts, (url, rtype)
            if kind == "extension":
                assert elements["Extension.value[x]"]["max"] == "0"
            else:
                assert [t["code"] for t in elements["Extension.value[x]"]["type"]] == [fhir_type(kind)]


def test_level_override_parts_are_defined(client):
    sd = client.get("/fhir/StructureDefinition/level-override").get_json()
    slices = {e["sliceName"] for e in sd["differential"]["element"] if e.get("sliceName")}
    bundle = json.loads((GOLDEN / "override-raise-with-reason" / "expected-bundle.json").read_text())
    parts = {
        part["url"]
        for transaction in bundle["entry"]
        for entry in transaction["resource"]["entry"]
        for ext in entry["resource"].get("extension", [])
        if ext["url"] == urls.EXT_LEVEL_OVERRIDE
        for part in ext["extension"]
    }
    assert slices == parts == {"computed", "final", "reason"}


# ---------------------------------------------------------------------------------------- create done right


def test_create_answers_201_with_a_readable_location(client):
    r = client.post("/fhir/QuestionnaireResponse", json=make_qr(signals=("homeless",), identifier="create-1"))
    assert r.status_code == 201 and r.mimetype == "application/fhir+json"
    qr = r.get_json()
    assert qr["resourceType"] == "QuestionnaireResponse" and qr["meta"]["versionId"] == "1"
    location = r.headers["Location"]
    assert location == f"http://localhost/fhir/QuestionnaireResponse/{qr['id']}/_history/1"
    assert r.headers["ETag"] == 'W/"1"' and r.headers["Last-Modified"]
    read = client.get(path_of(location))
    assert read.status_code == 200 and read.get_json() == qr and read.headers["ETag"] == 'W/"1"'
    assert client.get(f"/fhir/QuestionnaireResponse/{qr['id']}").get_json() == qr
    again = client.post("/fhir/QuestionnaireResponse", json=make_qr(signals=("homeless",), identifier="create-1"))
    assert again.status_code == 200 and again.headers["Location"] == location  # the same response: nothing new
    amended = client.post(
        "/fhir/QuestionnaireResponse", json=make_qr(signals=("homeless", "low-education"), identifier="create-1")
    )
    assert amended.status_code == 200 and amended.headers["Location"].endswith("/_history/2")
    assert client.get(path_of(location)).get_json() == qr  # version 1 stays readable
    assert client.get(f"/fhir/QuestionnaireResponse/{qr['id']}").get_json()["meta"]["versionId"] == "2"


def test_create_honours_prefer_return(client):
    minimal = client.post(
        "/fhir/QuestionnaireResponse", json=make_qr(identifier="prefer-1"), headers={"Prefer": "return=minimal"}
    )
    assert minimal.status_code == 201 and minimal.data == b"" and minimal.headers["Location"]
    outcome = client.post(
        "/fhir/QuestionnaireResponse",
        json=make_qr(signals=("homeless",), identifier="prefer-2"),
        headers={"Prefer": "return=OperationOutcome"},
    )
    body = outcome.get_json()
    assert outcome.status_code == 201 and body["resourceType"] == "OperationOutcome"
    assert "$referral-status" in body["issue"][0]["diagnostics"]
    assert [i["code"] for i in body["issue"][1:]] == ["transient"]  # the GGD's waits: no server configured here
    representation = client.post(
        "/fhir/QuestionnaireResponse", json=make_qr(identifier="prefer-3"), headers={"Prefer": "return=representation"}
    )
    assert representation.get_json()["resourceType"] == "QuestionnaireResponse"


def test_the_referral_outcome_is_published(client):
    r = client.post("/fhir/QuestionnaireResponse", json=make_qr(signals=("homeless",), identifier="status-1"))
    link = r.headers["Link"]
    status_url = link[1 : link.index(">")]
    assert status_url.endswith(f"/QuestionnaireResponse/{r.get_json()['id']}/$referral-status")
    status = client.get(path_of(status_url))
    assert status.status_code == 200 and status.get_json()["resourceType"] == "Parameters"
    params = status.get_json()["parameter"]
    assert next(p["valueString"] for p in params if p["name"] == "submission") == r.get_json()["id"]
    assert next(p["valueCode"] for p in params if p["name"] == "state") == "queued"
    [destination] = [p for p in params if p["name"] == "destination"]
    assert {x["name"]: x.get("valueCode") for x in destination["part"]}["state"] == "queued"
    assert {p["name"] for p in params} >= {"record", "evaluation"}
    assert client.post(path_of(status_url)).get_json() == status.get_json()
    assert client.get("/fhir/QuestionnaireResponse/no-such-one/$referral-status").status_code == 404


def test_submit_operation_keeps_the_one_call_answer(client):
    r = client.post("/fhir/QuestionnaireResponse/$submit", json=make_qr(signals=("homeless",), identifier="sub-1"))
    assert r.status_code == 202 and r.get_json()["resourceType"] == "Parameters"
    assert client.get(path_of(r.headers["Location"])).status_code == 200


def test_reading_a_response_is_audited_once(app, client):
    r = client.post("/fhir/QuestionnaireResponse", json=make_qr(signals=("homeless",), identifier="audit-read"))
    audit = app.extensions["ks"].delivery.audit
    before = len(audit.entries())
    client.get(path_of(r.headers["Location"]))
    reads = audit.entries()[before:]
    assert len(reads) == 1 and reads[0]["event"] == "read" and reads[0]["action"] == "R"
    assert r.get_json()["id"] in reads[0]["object"]


def test_capability_statement_declares_the_qr_interactions(client):
    cs = client.get("/fhir/metadata").get_json()
    [qr] = [r for r in cs["rest"][0]["resource"] if r["type"] == "QuestionnaireResponse"]
    assert [i["code"] for i in qr["interaction"]] == ["create", "read", "vread"]


# ---------------------------------------------------------------------------------------- search


def test_searchset_has_a_self_link_showing_only_what_was_applied(client):
    url = urls.QUESTIONNAIRE_SIGNALERING
    bundle = client.get(f"/fhir/Questionnaire?url={url}&_elements=id&colour=blue").get_json()
    assert bundle["total"] == 1
    [link] = bundle["link"]
    assert (
        link["relation"] == "self"
        and path_of(link["url"]) == f"/fhir/Questionnaire?url={url.replace(':', '%3A').replace('/', '%2F')}"
    )
    assert path_of(client.get("/fhir/ValueSet").get_json()["link"][0]["url"]) == "/fhir/ValueSet"


def test_strict_handling_refuses_unknown_parameters(client):
    r = client.get("/fhir/CodeSystem?colour=blue", headers={"Prefer": "handling=strict"})
    assert r.status_code == 400 and r.get_json()["resourceType"] == "OperationOutcome"
    assert "colour" in r.get_json()["issue"][0]["diagnostics"]
    assert client.get("/fhir/CodeSystem?version=1.0.0", headers={"Prefer": "handling=strict"}).status_code == 200
    assert client.get("/fhir/CodeSystem?colour=blue", headers={"Prefer": "handling=lenient"}).status_code == 200


# ---------------------------------------------------------------------------------------- SMART discovery


def test_open_api_smart_configuration_is_a_fhir_404(client):
    r = client.get("/fhir/.well-known/smart-configuration")
    assert r.status_code == 404 and r.get_json()["resourceType"] == "OperationOutcome"


def test_no_oauth_uris_extension_without_an_authorize_endpoint():
    security = urls.smart_security(token="https://ks.example/auth/token")
    assert "extension" not in security
    full = urls.smart_security(token="https://t.example/token", authorize="https://t.example/authorize")
    assert [e["url"] for e in full["extension"][0]["extension"]] == ["authorize", "token"]


def test_the_sandbox_publishes_openid_configuration_for_sso(tmp_path):
    client = create_app(
        {"TESTING": True, "data_dir": tmp_path, "sandbox": "on", "fhir_base_url": "http://127.0.0.1:9"}
    ).test_client()
    smart = client.get("/sandbox/fhir/.well-known/smart-configuration").get_json()
    assert "sso-openid-connect" in smart["capabilities"]
    oidc = client.get(path_of(smart["issuer"].rstrip("/") + "/.well-known/openid-configuration"))
    assert oidc.status_code == 200
    body = oidc.get_json()
    assert body["issuer"] == smart["issuer"] and body["jwks_uri"] == smart["jwks_uri"]
    assert "RS256" in body["id_token_signing_alg_values_supported"] and "public" in body["subject_types_supported"]


# ---------------------------------------------------------------------------------------- $populate


@pytest.mark.parametrize(
    "identifier",
    [
        {"name": "identifier", "valueIdentifier": {"system": "urn:example:forms", "value": "not-ours"}},
        {"name": "identifier", "valueUri": "https://example.org/Questionnaire/other"},
    ],
)
def test_populate_with_an_unknown_identifier_is_not_found(client, identifier):
    body = {
        "resourceType": "Parameters",
        "parameter": [identifier, {"name": "subject", "valueReference": {"reference": "Patient/1"}}],
    }
    r = client.post("/fhir/Questionnaire/$populate", json=body)
    assert r.status_code == 404 and r.get_json()["issue"][0]["code"] == "not-found"


def test_populate_by_canonical(client):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "canonical", "valueCanonical": f"{urls.QUESTIONNAIRE_SIGNALERING}|1.0.0"},
            {"name": "subject", "valueReference": {"reference": "Patient/1"}},
        ],
    }
    r = client.post("/fhir/Questionnaire/$populate", json=body)
    assert r.status_code == 200
    [response] = [p["resource"] for p in r.get_json()["parameter"] if p["name"] == "response"]
    assert response["questionnaire"] == f"{urls.QUESTIONNAIRE_SIGNALERING}|1.0.0"


# ---------------------------------------------------------------------------------------- found by fuzzing


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("status",), {}),  # tests/api/test_openapi.py: the validator's set lookup raised TypeError (a 500)
        (("contained", 0, "resourceType"), {}),  # the model check raised TypeError
        (("contained", 0, "resourceType"), "NoSuchType"),
        (("subject", "reference"), 7),  # the Bundle builder called .startswith on it
    ],
)
@pytest.mark.parametrize("operation", ["", "/$validate", "/$evaluate", "/$extract", "/$submit"])
def test_wrong_json_types_are_a_400_naming_the_element(client, path, value, operation):
    qr = make_qr(signals=("homeless",))
    qr["contained"] = [{"resourceType": "Patient", "id": "p"}]
    node = qr
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    r = client.post(f"/fhir/QuestionnaireResponse{operation}", json=qr)
    assert r.status_code == 400 and r.get_json()["resourceType"] == "OperationOutcome"
    assert r.get_json()["issue"][0]["expression"][0].startswith(f"QuestionnaireResponse.{path[0]}")
