"""GET /fhir/Measure, /fhir/Measure/{id} and /fhir/MeasureReport (service/api/measures.py): the searchset of summary
MeasureReports, the refusals as OperationOutcomes, who may see which subject (SMART Backend Services), and the
reports through an independent validator (@medplum/core validateResource)."""

from __future__ import annotations

import pytest

from service import create_app
from service.api import measures
from service.api.auth import ApiAuth, ApiClient
from tests.mirror import factories
from tests.web.helpers import registry_file

ISS = "http://127.0.0.1:9/fhir"
REPORT = "/fhir/MeasureReport"
BY_RECIPIENT = "https://kansrijke-start.github.io/fhir/Measure/ks-referrals-by-recipient"


@pytest.fixture()
def app(tmp_path, monkeypatch):
    made = {"practice": factories.practice_report(), "region": factories.region_report()}
    monkeypatch.setattr(measures, "report_for", lambda scope, **kw: made[scope])
    return create_app(
        {"TESTING": True, "data_dir": tmp_path / "data", "ehr_registry": registry_file(tmp_path / "deploy", ISS)}
    )


def test_the_measures_are_published(app):
    client = app.test_client()
    bundle = client.get("/fhir/Measure").get_json()
    assert bundle["type"] == "searchset" and bundle["total"] == 9
    one = client.get(f"/fhir/Measure?url={BY_RECIPIENT}|1.0.0").get_json()
    assert [e["resource"]["id"] for e in one["entry"]] == ["ks-referrals-by-recipient"]
    measure = client.get("/fhir/Measure/ks-overrides").get_json()
    assert measure["resourceType"] == "Measure" and measure["url"].endswith("/Measure/ks-overrides")
    missing = client.get("/fhir/Measure/ks-nothing")
    assert missing.status_code == 404 and missing.get_json()["resourceType"] == "OperationOutcome"


def test_a_practice_report_search(app):
    r = app.test_client().get(f"{REPORT}?measure={BY_RECIPIENT}&period=2026&subject=demo-practice")
    assert r.status_code == 200 and r.mimetype == "application/fhir+json"
    bundle = r.get_json()
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    [entry] = bundle["entry"]
    report = entry["resource"]
    assert report["type"] == "summary" and report["measure"] == BY_RECIPIENT + "|1.0.0"
    assert report["group"][0]["population"][0]["count"] == 20
    assert "subject=demo-practice" in bundle["link"][0]["url"]


def test_a_region_report_masks_the_suppressed_cells(app):
    bundle = app.test_client().get(f"{REPORT}?period=2026&subject=maastricht-heuvelland").get_json()
    assert bundle["total"] == 9
    by = {e["resource"]["measure"].split("/ks-")[1].split("|")[0]: e["resource"] for e in bundle["entry"]}
    strata = by["referrals-by-recipient"]["group"][0]["stratifier"][0]["stratum"]
    nnz = next(s for s in strata if s["value"]["coding"][0]["code"] == "nu-niet-zwanger")
    assert (
        "count" not in nnz["population"][0] and nnz["population"][0]["_count"]["extension"][0]["valueCode"] == "masked"
    )


@pytest.mark.parametrize(
    "query, words",
    [
        ("period=2026&", "subject"),
        ("subject=demo-practice", "period"),
        ("period=2026Q9&subject=demo-practice", "period"),
        ("period=2026&subject=nobody", "subject"),
        ("period=2026&subject=demo-practice&measure=https://example.org/Measure/x", "Measure"),
    ],
)
def test_bad_parameters_are_a_400_operation_outcome(app, query, words):
    r = app.test_client().get(f"{REPORT}?{query}")
    assert r.status_code == 400
    outcome = r.get_json()
    assert outcome["resourceType"] == "OperationOutcome" and words in outcome["issue"][0]["details"]["text"]


def test_who_may_see_which_subject(app):
    """A practice's client: its own practice and its region; a client of no practice: a region only; the scope."""
    from joserfc.jwk import KeySet

    keys = KeySet.generate_key_set("RSA", 2048, count=1)
    clients = {
        "his": ApiClient("his", "HIS", keys, frozenset({"system/MeasureReport.r"}), "demo-practice"),
        "zio": ApiClient("zio", "ZIO", keys, frozenset({"system/MeasureReport.r"})),
        "filler": ApiClient("filler", "Form filler", keys, frozenset({"system/Questionnaire.r"})),
    }
    ks = app.extensions["ks"]
    ks.api_auth = ApiAuth(clients, ks.settings.data_dir)
    tokens = {cid: ks.api_auth.issue(c, " ".join(c.scopes))["access_token"] for cid, c in clients.items()}
    client = app.test_client()

    def status(who: str | None, subject: str) -> int:
        headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
        return client.get(f"{REPORT}?period=2026&subject={subject}", headers=headers).status_code

    assert status("his", "demo-practice") == 200
    assert status("his", "maastricht-heuvelland") == 200
    assert status("his", "voorbeeldstad") == 403
    assert status("zio", "maastricht-heuvelland") == 200
    assert status("zio", "demo-practice") == 403
    assert status("filler", "maastricht-heuvelland") == 403
    assert status(None, "maastricht-heuvelland") == 401


def test_the_reports_and_measures_validate_independently(app):
    from tests.contract.test_independent_validation import errors_of, medplum_validate

    client = app.test_client()
    items = [
        (f"{subject}/{e['resource']['id']}", e["resource"])
        for subject in ("demo-practice", "maastricht-heuvelland")
        for e in client.get(f"{REPORT}?period=2026&subject={subject}").get_json()["entry"]
    ]
    items += [
        (f"Measure/{e['resource']['id']}", e["resource"]) for e in client.get("/fhir/Measure").get_json()["entry"]
    ]
    items.append(("searchset", client.get(f"{REPORT}?period=2026Q3&subject=maastricht-heuvelland").get_json()))
    items.append(("metadata", client.get("/fhir/metadata").get_json()))  # with its Measure and MeasureReport
    results = medplum_validate(items)
    assert len(results) == len(items) == 2 * 9 + 9 + 2
    assert {label: issues for label, issues in errors_of(results).items() if issues} == {}


def test_the_capability_statement_lists_the_measure_searches_the_api_honours(app):
    """Measure read and search by url, MeasureReport search by measure, period and subject, each parameter with
    its R4 SearchParameter and how it is read here; what it lists is what a strict search accepts."""
    client = app.test_client()
    cs = client.get("/fhir/metadata").get_json()
    resources = {r["type"]: r for r in cs["rest"][0]["resource"]}
    measure, report = resources["Measure"], resources["MeasureReport"]
    assert [i["code"] for i in measure["interaction"]] == ["read", "search-type"]
    assert [i["code"] for i in report["interaction"]] == ["search-type"]
    assert [p["name"] for p in measure["searchParam"]] == ["url"]
    assert [(p["name"], p["type"]) for p in report["searchParam"]] == [
        ("measure", "reference"),
        ("period", "date"),
        ("subject", "reference"),
    ]
    for param in measure["searchParam"] + report["searchParam"]:
        assert param["definition"].startswith("http://hl7.org/fhir/SearchParameter/Measure")
        assert param["documentation"].strip()
    assert "2026Q4" in report["searchParam"][1]["documentation"]
    strict = {"Prefer": "handling=strict"}
    listed = "&".join(f"{p['name']}=" for p in report["searchParam"]).replace("measure=", f"measure={BY_RECIPIENT}")
    query = listed.replace("period=", "period=2026").replace("subject=", "subject=demo-practice")
    assert client.get(f"{REPORT}?{query}", headers=strict).status_code == 200
    assert client.get(f"{REPORT}?{query}&date=2026", headers=strict).status_code == 400  # not listed: refused


def test_the_openapi_document_documents_the_measure_searches(app):
    doc = app.test_client().get("/fhir/openapi.json").get_json()
    reports = {p["name"]: p for p in doc["paths"]["/MeasureReport"]["get"]["parameters"] if p["in"] == "query"}
    assert set(reports) == {"measure", "period", "subject"}
    assert reports["period"]["required"] and reports["subject"]["required"] and not reports["measure"]["required"]
    assert "2026Q4" in reports["period"]["description"] and "MeasureReport-period" in reports["period"]["description"]
    [url] = [p for p in doc["paths"]["/Measure"]["get"]["parameters"] if p["in"] == "query"]
    assert url["name"] == "url" and "Measure-url" in url["description"]
    assert "/Measure/{rid}" in doc["paths"]
