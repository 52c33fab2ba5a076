"""The /fhir API: metadata, the catalog, the operations, and OperationOutcomes for everything refused."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from service.fhir import urls
from tests.factories import make_qr

FHIR = {"Content-Type": "application/fhir+json"}


def test_metadata_lists_what_the_service_offers(client):
    r = client.get("/fhir/metadata")
    assert r.status_code == 200 and r.mimetype == "application/fhir+json"
    cs = r.get_json()
    assert cs["resourceType"] == "CapabilityStatement" and cs["fhirVersion"] == "4.0.1"
    resources = {res["type"]: res for res in cs["rest"][0]["resource"]}
    assert {"validate", "evaluate", "extract"} <= {op["name"] for op in resources["QuestionnaireResponse"]["operation"]}
    assert [op["name"] for op in resources["Questionnaire"]["operation"]] == ["populate"]


def test_questionnaire_search_and_read(client):
    r = client.get(f"/fhir/Questionnaire?url={urls.QUESTIONNAIRE_SIGNALERING}&version=1.0.0")
    bundle = r.get_json()
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    q = bundle["entry"][0]["resource"]
    assert q["url"] == urls.QUESTIONNAIRE_SIGNALERING and q["language"] == "nl"
    assert client.get(f"/fhir/Questionnaire?url={urls.QUESTIONNAIRE_SIGNALERING}|1.0.0").get_json()["total"] == 1
    assert client.get("/fhir/Questionnaire?version=9.9").get_json()["total"] == 0
    assert client.get(f"/fhir/Questionnaire/{q['id']}").get_json() == q
    assert client.get("/fhir/CodeSystem/ks-signal").get_json()["count"] == 21


@pytest.mark.parametrize("path", ["/fhir/Questionnaire/nope", "/fhir/Nothing", "/elsewhere"])
def test_not_found_is_an_operation_outcome(client, path):
    r = client.get(path)
    assert r.status_code == 404 and r.get_json()["resourceType"] == "OperationOutcome"


# What Chromium and Firefox send for a page they navigate to.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("path", "back"),
    [("/elsewhere", 'href="/form"'), ("/form/no-such-step", 'href="/form"'), ("/inbox/nope", 'href="/inbox"')],
)
def test_a_browser_at_an_unknown_url_gets_a_readable_page(client, path, back):
    r = client.get(path, headers=BROWSER)
    page = r.get_data(as_text=True)
    assert r.status_code == 404 and r.mimetype == "text/html" and r.headers["Cache-Control"] == "no-store"
    assert "Deze pagina bestaat niet" in page and "Controleer het adres" in page and back in page


def test_a_browser_with_a_method_the_page_does_not_take_gets_a_page_that_says_which(client):
    r = client.get("/form/panel", headers=BROWSER)
    assert r.status_code == 405 and r.mimetype == "text/html" and r.headers["Allow"].split(", ").count("POST") == 1
    assert "Dat kan zo niet" in r.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/fhir/Nothing", "/fhir/Questionnaire/nope", "/auth/nothing", "/sandbox/fhir/x/y"])
def test_the_api_answers_a_browser_with_an_operation_outcome_too(client, path):
    r = client.get(path, headers=BROWSER)
    assert r.status_code == 404 and r.get_json()["resourceType"] == "OperationOutcome"


def test_wrong_method_is_an_operation_outcome(client):
    r = client.get("/fhir/QuestionnaireResponse/$extract")
    assert r.status_code == 405 and r.get_json()["issue"][0]["code"] == "not-supported"


def test_validate_valid_and_invalid_both_200(client):
    ok = client.post("/fhir/QuestionnaireResponse/$validate", json=make_qr(signals=("homeless",)))
    assert ok.status_code == 200 and ok.get_json()["issue"][0]["severity"] == "information"
    qr = make_qr(signals=("homeless",))
    qr["item"][0]["item"].pop()  # due date gone
    qr["item"][1]["item"][0]["answer"] = [{"valueInteger": 1}]
    bad = client.post("/fhir/QuestionnaireResponse/$validate", data=json.dumps(qr), headers=FHIR)
    assert bad.status_code == 200
    codes = sorted(i["code"] for i in bad.get_json()["issue"])
    assert codes == ["required", "value"]  # every problem at once


def test_evaluate_gives_the_live_panel(client):
    r = client.post(
        "/fhir/QuestionnaireResponse/$evaluate",
        json=make_qr(signals=("domestic-violence", "single-mother", "low-education")),
    )
    params = {p["name"]: p for p in r.get_json()["parameter"]}
    assert params["level"]["valueCoding"]["code"] == "urgent"
    assert params["safetyFlag"]["valueBoolean"] is True
    recs = [p for p in r.get_json()["parameter"] if p["name"] == "recommendation"]
    parts = {x["name"]: x for x in recs[0]["part"]}
    assert (
        parts["recipient"]["valueCoding"]["code"] == "regiocoordinator-jgz"
        and parts["priority"]["valueCode"] == "urgent"
    )


def test_extract_writes_nothing_and_is_deterministic(app, client):
    qr = make_qr(signals=("homeless",))
    first = client.post("/fhir/QuestionnaireResponse/$extract", json=qr).get_json()
    second = client.post("/fhir/QuestionnaireResponse/$extract", json=qr).get_json()
    assert first == second and first["type"] == "collection"
    # the practice's record first, then one transaction per external destination (homeless, pregnant: the JGZ coordinator)
    record, *deliveries = [e["resource"] for e in first["entry"]]
    assert record["type"] == "transaction" and [d["meta"]["tag"][0]["code"] for d in deliveries] == ["ggd-zuid-limburg"]
    assert app.extensions["ks"].delivery.outbox.list() == []  # nothing stored, nothing queued


def test_region_parameter(client):
    qr = make_qr(signals=("single-mother", "financial-problems"))
    default = client.post("/fhir/QuestionnaireResponse/$evaluate", json=qr).get_json()
    other = client.post("/fhir/QuestionnaireResponse/$evaluate?region=voorbeeldstad", json=qr).get_json()
    level = lambda p: next(x for x in p["parameter"] if x["name"] == "level")["valueCoding"]["code"]  # noqa: E731
    assert (level(default), level(other)) == ("vulnerable", "attention")
    r = client.post("/fhir/QuestionnaireResponse/$evaluate?region=atlantis", json=qr)
    assert r.status_code == 404 and r.get_json()["resourceType"] == "OperationOutcome"


def test_content_type_with_charset_is_accepted(client):
    r = client.post(
        "/fhir/QuestionnaireResponse/$evaluate",
        data=json.dumps(make_qr()),
        headers={"Content-Type": "application/fhir+json; charset=utf-8"},
    )
    assert r.status_code == 200


def test_internal_error_is_an_operation_outcome_without_details(app, monkeypatch):
    engine = app.extensions["ks"].engine
    monkeypatch.setattr(engine, "evaluate", lambda *a, **k: 1 / 0)
    r = app.test_client().post("/fhir/QuestionnaireResponse/$evaluate", json=make_qr())
    assert r.status_code == 500 and r.mimetype == "application/fhir+json"
    assert "ZeroDivision" not in r.get_data(as_text=True)


def test_logs_carry_no_answers(client, caplog):
    caplog.set_level("DEBUG")
    secret = "Geheime hulpvraag over schulden"
    client.post("/fhir/QuestionnaireResponse/$extract", json=make_qr(signals=("homeless",), note=secret))
    qr = make_qr(note=secret)
    qr["item"][1]["item"][0]["answer"] = [{"valueString": secret}]
    client.post("/fhir/QuestionnaireResponse/$extract", json=qr)
    assert secret not in caplog.text and "homeless" not in caplog.text


def test_submit_returns_the_practices_record_with_the_internal_referral(client):
    """An internal referral (POH Jeugd) travels nowhere: the HIS gets it back in `record`, with its Task, to store;
    nothing is queued for it (no server configured here, so the external one waits in the outbox)."""
    r = client.post("/fhir/QuestionnaireResponse/$submit", json=make_qr(signals=("homeless", "substance-addiction")))
    params = r.get_json()["parameter"]
    [record] = [p["resource"] for p in params if p["name"] == "record"]
    types = [e["resource"]["resourceType"] for e in record["entry"]]
    assert record["type"] == "transaction" and types.count("QuestionnaireResponse") == 1
    codes = {
        e["resource"]["code"]["coding"][0]["code"]: e["resource"]
        for e in record["entry"]
        if e["resource"]["resourceType"] == "ServiceRequest"
    }
    assert set(codes) == {"regiocoordinator-jgz", "poh-jeugd"} and types.count("Task") == 1
    destinations = [p for p in params if p["name"] == "destination"]
    assert [[x["valueString"] for x in d["part"] if x["name"] == "recipient"] for d in destinations] == [
        ["regiocoordinator-jgz"]
    ]
    assert r.status_code == 202 and next(p["valueCode"] for p in params if p["name"] == "state") == "queued"


def test_every_answer_that_may_name_a_patient_is_not_stored_by_caches(client):
    """RFC 9111 §5.2.2.5 no-store on operations, responses read back and errors; the definitions may be cached."""
    qr = make_qr(signals=("homeless",))
    for r in (
        client.post("/fhir/QuestionnaireResponse/$evaluate", json=qr),
        client.post("/fhir/QuestionnaireResponse/$extract", json=qr),
        client.post("/fhir/QuestionnaireResponse/$validate", json=qr),
        client.get("/fhir/QuestionnaireResponse/nope"),
        client.post("/fhir/Questionnaire/$populate", json={"resourceType": "Parameters"}),
    ):
        assert r.headers.get("Cache-Control") == "no-store", (r.request.path, r.status_code)
    for path in ("/fhir/metadata", "/fhir/Questionnaire", "/fhir/OperationDefinition"):
        r = client.get(path)
        assert r.status_code == 200 and "Cache-Control" not in r.headers, path


def test_a_bsn_in_oid_form_goes_out_in_its_uri_form(client):
    """DESIGN.md "Standards": the OID form is accepted on input, the URI form emitted, so one patient is one
    conditional create at the recipient whichever form the HIS sends."""
    from tests.factories import with_patient

    qr = with_patient(make_qr(signals=("homeless",)), bsn="999990032")
    qr["contained"][0]["identifier"][0]["system"] = "urn:oid:2.16.840.1.113883.2.4.6.3"
    bundle = client.post("/fhir/QuestionnaireResponse/$extract", json=qr).get_json()
    destinations = [e["resource"] for e in bundle["entry"][1:]]
    patients = [e for d in destinations for e in d["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert patients and "urn:oid" not in json.dumps(bundle)
    assert all(p["request"]["ifNoneExist"] == f"identifier={urls.BSN}|999990032" for p in patients)


@pytest.mark.parametrize(("proxies", "expected"), [(0, "api:10.0.0.2"), (1, "api:203.0.113.9")])
def test_the_audit_log_names_the_client_behind_a_trusted_proxy_only(tmp_path, proxies, expected):
    """KS_TRUSTED_PROXIES=1 (the region's nginx sets X-Forwarded-For): the access point is the client's address the
    proxy saw; without it, the socket's peer, whatever X-Forwarded-For a client sends."""
    from service import create_app

    app = create_app({"TESTING": True, "data_dir": tmp_path / "data", "trusted_proxies": proxies})
    client = app.test_client()
    headers = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}  # a forged first hop, then what nginx appended
    r = client.post(
        "/fhir/QuestionnaireResponse",
        json=make_qr(signals=("homeless",)),
        headers=headers,
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert r.status_code in (200, 201, 202), r.get_data(as_text=True)[:300]
    [row] = [e for e in app.extensions["ks"].delivery.audit.entries() if e["event"] == "submit"]
    assert row["access_point"] == expected


def test_refusals_quote_the_request_as_json_never_as_python(client):
    """A missing status is "missing", and a code that is a list reads as JSON ("[\"x\"]"), not Python's "['x']"."""
    qr = make_qr(signals=("homeless",))
    del qr["status"]
    r = client.post("/fhir/QuestionnaireResponse/$validate", json=qr)
    issue = next(i for i in r.get_json()["issue"] if i.get("expression") == ["QuestionnaireResponse.status"])
    assert issue["code"] == "required" and issue["diagnostics"] == "De status ontbreekt." and "None" not in r.text
    qr = make_qr(phase="pregnant")
    phase = next(i for i in qr["item"][0]["item"] if i["linkId"] == "phase")
    phase["answer"][0]["valueCoding"]["code"] = ["x"]
    text = client.post("/fhir/QuestionnaireResponse/$validate", json=qr).get_data(as_text=True)
    assert "['x']" not in text


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("?_format=xml", {}),
        ("?_format=application/fhir%2Bxml", {}),
        ("", {"Accept": "application/fhir+xml"}),
        ("", {"Accept": "application/xml, text/xml"}),
    ],
)
def test_a_format_other_than_json_is_406_in_json(client, query, headers):
    """formats.html: 406 when the format asked for is not supported; the OperationOutcome is the JSON we have."""
    r = client.get("/fhir/metadata" + query, headers=headers)
    assert r.status_code == 406 and r.get_json()["resourceType"] == "OperationOutcome"
    assert "alleen in FHIR JSON" in r.get_json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("?_format=json", {}),
        ("?_format=application/fhir%2Bjson", {}),
        ("", {"Accept": "application/fhir+xml;q=1, application/fhir+json;q=0.9"}),
        ("", {"Accept": "*/*"}),
        ("", {}),
    ],
)
def test_json_asked_in_any_of_its_forms_is_answered(client, query, headers):
    assert client.get("/fhir/metadata" + query, headers=headers).status_code == 200


def test_search_by_post_and_with_comma_separated_values():
    """http.html#search: a server SHALL support search by GET and by POST to _search (parameters in a form body);
    search.html: a comma between values is an OR."""
    from service import create_app

    client = create_app({"TESTING": True}).test_client()
    canonical = client.get("/fhir/Questionnaire").get_json()["entry"][0]["resource"]["url"]
    by_get = client.get("/fhir/Questionnaire", query_string={"url": f"{canonical},http://x.invalid/Q"}).get_json()
    assert by_get["total"] == 1
    by_post = client.post("/fhir/Questionnaire/_search", data={"url": canonical})
    assert by_post.status_code == 200 and by_post.get_json()["total"] == 1
    assert by_post.get_json()["link"][0]["url"].endswith("/Questionnaire?url=" + quote(canonical, safe=""))
    none = client.post("/fhir/Questionnaire/_search", data={"url": "http://x.invalid/Q"}).get_json()
    assert none["total"] == 0


def test_populate_refuses_a_context_without_a_name(client):
    """SDC $populate: context.name is 1..1."""
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subject", "valueReference": {"reference": "Patient/p1"}},
            {"name": "context", "part": [{"name": "content", "resource": {"resourceType": "Patient", "id": "p1"}}]},
        ],
    }
    r = client.post("/fhir/Questionnaire/kansrijke-start-signalering/$populate", json=body)
    assert r.status_code == 400 and r.get_json()["issue"][0]["code"] == "required"
    assert r.get_json()["issue"][0]["expression"] == ["Parameters.parameter[1].part"]
