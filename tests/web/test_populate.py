"""$populate: the pure function (phase and dates from the record, suggestions apart) and the SDC operation."""

from __future__ import annotations

import copy
import dataclasses
from datetime import date, timedelta

import fhirpathpy
import pytest

from service import create_app
from service.ehr import read_record
from service.fhir import urls
from service.questionnaires.answers import index_answers
from service.questionnaires.populate import populate, population, record_facts, suggestions, teenage_suggestion
from service.questionnaires.sdc import INITIAL_EXPRESSION, QueryNotSupported, client_fetch, search_record
from tests.factories import answers_by_link_id, make_qr

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def qdef(engine):
    return engine.catalog.find(engine.ruleset().questionnaire)


def patient(pid="p1", birth="1995-05-05", gender="female"):
    return {"resourceType": "Patient", "id": pid, "birthDate": birth, "gender": gender}


def pregnancy(pid="p1", status="active", code=(urls.SNOMED, "77386006"), **extra):
    return {
        "resourceType": "Condition",
        "id": f"preg-{pid}",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
        },
        "code": {"coding": [{"system": code[0], "code": code[1]}]},
        "subject": {"reference": f"Patient/{pid}"},
        **extra,
    }


def due(day: date, pid="p1", recorded="2026-09-01", oid="edd", status="final"):
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "code": {"coding": [{"system": urls.LOINC, "code": "11778-8"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": recorded,
        "valueDateTime": day.isoformat(),
    }


def answers(qr):
    index = index_answers(qr)
    return {
        lid: vals[0].get("code") if isinstance(vals[0], dict) else vals[0] for lid, vals in index.values.items() if vals
    }


def test_pregnancy_condition_and_future_due_date(qdef, engine):
    qr = populate(qdef, patient(), [due(TODAY + timedelta(days=100))], [pregnancy()], TODAY)
    assert qr["status"] == "in-progress" and qr["questionnaire"] == qdef.canonical
    assert qr["subject"] == {"reference": "Patient/p1"}
    assert answers(qr) == {"phase": "pregnant", "due-date": (TODAY + timedelta(days=100)).isoformat()}
    assert qr["item"][0]["linkId"] == "context"  # nested as the Questionnaire nests it
    assert engine.validate(qr).ok


def test_icpc_w78_alone_is_a_pregnancy_without_a_due_date(qdef):
    qr = populate(qdef, patient(), [], [pregnancy(code=("http://hl7.org/fhir/sid/icpc-2", "W78"))], TODAY)
    assert answers(qr) == {"phase": "pregnant"}


def test_a_future_due_date_alone_means_pregnant(qdef):
    qr = populate(qdef, patient(), [due(TODAY + timedelta(days=30))], [], TODAY)
    assert answers(qr)["phase"] == "pregnant"


@pytest.mark.parametrize("days", [-30, -1, 0, 44 * 7 + 1])
def test_a_past_or_implausible_due_date_alone_says_nothing(qdef, days):
    qr = populate(qdef, patient(), [due(TODAY + timedelta(days=days))], [], TODAY)
    assert answers(qr) == {}


def test_overdue_within_two_weeks_still_pregnant_with_the_date(qdef):
    qr = populate(qdef, patient(), [due(TODAY - timedelta(days=5))], [pregnancy()], TODAY)
    assert answers(qr) == {"phase": "pregnant", "due-date": (TODAY - timedelta(days=5)).isoformat()}


def test_long_past_due_date_with_active_pregnancy_asks_to_check(qdef):
    record = (patient(), [due(TODAY - timedelta(days=40))], [pregnancy()])
    assert answers(populate(qdef, *record, TODAY)) == {"phase": "pregnant"}
    [check] = [s for s in suggestions(qdef, *record, TODAY) if s.kind == "check"]
    assert check.link_id == "due-date" and "geboren" in check.text


def test_latest_assessment_of_the_due_date_counts(qdef):
    old = due(TODAY + timedelta(days=200), recorded="2026-05-01", oid="old")
    new = due(TODAY + timedelta(days=150), recorded="2026-10-01", oid="new")
    assert (
        answers(populate(qdef, patient(), [new, old], [pregnancy()], TODAY))["due-date"]
        == (TODAY + timedelta(days=150)).isoformat()
    )


@pytest.mark.parametrize(
    "condition",
    [
        pregnancy(status="resolved"),
        pregnancy(status="inactive"),
        pregnancy(verificationStatus={"coding": [{"code": "entered-in-error"}]}),
        pregnancy(abatementDateTime="2026-01-01"),
        pregnancy(pid="someone-else"),
        pregnancy(code=(urls.SNOMED, "74732009")),
    ],
)
def test_inactive_wrong_or_other_patients_conditions_are_ignored(qdef, condition):
    assert answers(populate(qdef, patient(), [], [condition], TODAY)) == {}


def test_entered_in_error_or_other_patients_observations_are_ignored(qdef):
    obs = [
        due(TODAY + timedelta(days=90), status="entered-in-error"),
        due(TODAY + timedelta(days=90), pid="other", oid="x"),
    ]
    assert answers(populate(qdef, patient(), obs, [], TODAY)) == {}


@pytest.mark.parametrize(
    "age_days,expected",
    [(30, "postpartum"), (400, "postpartum"), (5 * 365, "postpartum"), (12 * 366, None), (25 * 365, None)],
)
def test_a_child_patient_is_postpartum_with_the_childs_birth_date(qdef, engine, age_days, expected):
    birth = TODAY - timedelta(days=age_days)
    qr = populate(qdef, patient(birth=birth.isoformat()), [], [], TODAY)
    if expected:
        assert answers(qr) == {"phase": "postpartum", "child-birth-date": birth.isoformat()}
        assert engine.validate(qr).ok
    else:
        assert answers(qr) == {}


def test_teenage_pregnancy_is_suggested_never_answered(qdef):
    due_day = TODAY + timedelta(days=120)
    mother = patient(birth=(due_day.replace(year=due_day.year - 19) - timedelta(days=40)).isoformat())
    record = (mother, [due(due_day)], [pregnancy()])
    qr = populate(qdef, *record, TODAY)
    assert "teenage-pregnancy" not in index_answers(qr).values
    [teen] = [s for s in suggestions(qdef, *record, TODAY) if s.link_id == "teenage-pregnancy"]
    assert teen.kind == "tick" and "19 jaar" in teen.text and "Niet automatisch aangevinkt" in teen.text


def test_twenty_at_the_due_date_is_no_teenager():
    due_day = date(2027, 3, 1)
    assert teenage_suggestion(date(2007, 3, 1), due_day, TODAY) is None  # 20 on the due date
    assert teenage_suggestion(date(2007, 3, 2), due_day, TODAY) is not None  # 19 then


def test_an_implausible_due_date_gives_the_age_now():
    """A due date in 2019 (or absurdly far ahead) does not make the patient "op de uitgerekende datum 10 jaar"."""
    mother = date(2009, 1, 1)
    past = teenage_suggestion(mother, date(2019, 3, 1), TODAY)
    assert past is not None and "op de uitgerekende datum" not in past.text and "at the due date" not in past.english
    assert past.text.startswith("De patiënte is nu 17 jaar") and past.english.startswith("The patient is 17 now")
    assert teenage_suggestion(mother, date(2040, 3, 1), TODAY).text == past.text  # type: ignore[union-attr]
    soon = teenage_suggestion(mother, TODAY + timedelta(weeks=20), TODAY)
    assert soon is not None and "op de uitgerekende datum" in soon.text  # a plausible one still counts
    assert teenage_suggestion(date(2000, 1, 1), date(2019, 3, 1), TODAY) is None  # 19 then, not now


def test_no_suggestion_for_a_child_record(qdef):
    assert suggestions(qdef, patient(birth="2026-01-01"), [], [], TODAY) == ()


def test_the_demo_record(qdef, engine):
    from service.demo import demo_resources

    res = demo_resources(engine.ruleset(), TODAY)
    by = lambda t: [r for r in res if r["resourceType"] == t]  # noqa: E731
    preg = next(r for r in by("Patient") if r["id"] == "demo-pregnant")
    facts = record_facts(preg, by("Observation"), by("Condition"), TODAY)
    assert facts.phase == "pregnant" and facts.due_date == TODAY + timedelta(days=120)
    assert [s.link_id for s in suggestions(qdef, preg, by("Observation"), by("Condition"), TODAY)] == [
        "teenage-pregnancy"
    ]


# ------------------------------------------------------------------------------------ declared, not coded


def _with_initial(qdef, link_id: str, expression: str | None):
    """The Questionnaire with `link_id`'s initialExpression replaced (None: removed)."""
    resource = copy.deepcopy(qdef.resource)

    def walk(items):
        for item in items:
            if item["linkId"] == link_id:
                item["extension"] = [e for e in item.get("extension", ()) if e["url"] != INITIAL_EXPRESSION]
                if expression:
                    item["extension"].append(
                        {
                            "url": INITIAL_EXPRESSION,
                            "valueExpression": {"language": "text/fhirpath", "expression": expression},
                        }
                    )
            walk(item.get("item", ()))

    walk(resource["item"])
    return dataclasses.replace(qdef, resource=resource)


def test_the_prefill_is_what_the_questionnaire_declares(qdef):
    record = (patient(), [due(TODAY + timedelta(days=100))], [pregnancy()])
    assert answers(populate(_with_initial(qdef, "due-date", None), *record, TODAY)) == {"phase": "pregnant"}
    other = _with_initial(qdef, "due-date", "%patient.birthDate")
    assert answers(populate(other, *record, TODAY))["due-date"] == "1995-05-05"
    assert answers(populate(_with_initial(qdef, "phase", "'postpartum'"), *record, TODAY))["phase"] == "postpartum"
    assert answers(populate(_with_initial(qdef, "phase", "'no-such-phase'"), *record, TODAY)).get("phase") is None


def test_the_queries_run_against_a_fhir_server_as_against_the_record_read(qdef, ehr):
    """The declared x-fhir-queries sent to the EHR (sekmet, demo data) give what the record read gives."""
    for pid in ("demo-pregnant", "demo-child-1y", "demo-child-5y"):
        record = read_record(ehr, pid)
        via_server = population(qdef, record.patient, client_fetch(ehr), TODAY)
        read_first = populate(qdef, record.patient, record.observations, record.conditions, TODAY)
        assert via_server.answers == answers_by_link_id(read_first) and via_server.answers
        assert via_server.variables["dueDateObservations"][0]["resourceType"] == "Bundle"


def test_the_record_search_answers_the_declared_queries():
    res = [
        patient(),
        pregnancy(),
        pregnancy(pid="p2"),
        due(TODAY, oid="a"),
        {**due(TODAY, oid="b"), "code": {"coding": [{"system": urls.LOINC, "code": "29463-7"}]}},
    ]

    def ids(query):
        return [e["resource"]["id"] for e in search_record(res, query)["entry"]]

    assert ids("Condition?patient=p1&code=http://snomed.info/sct|77386006,W78") == ["preg-p1"]
    assert ids("Condition?patient=Patient/p2") == ["preg-p2"]
    assert ids("Observation?patient=p1&code=http://loinc.org|11778-8") == ["a"]
    assert ids("Observation?code=http://loinc.org|") == ["a", "b"] and ids("Observation?code=29463-7") == ["b"]
    assert ids("Observation?code=|11778-8") == []  # "|code": a code without a system only
    assert ids("Observation?patient=") == ["a", "b"]  # a parameter without a value is ignored
    assert ids("Patient?_id=p1") == ["p1"]
    with pytest.raises(QueryNotSupported):
        search_record(res, "Observation?date=ge2026")


# ------------------------------------------------------------------------------------------- the operation

FHIR = {"Content-Type": "application/fhir+json"}


def params(*items):
    return {"resourceType": "Parameters", "parameter": list(items)}


def test_operation_with_context_resources(client):
    body = params(
        {"name": "questionnaire", "valueUri": f"{urls.QUESTIONNAIRE_SIGNALERING}|1.0.0"},
        {"name": "subject", "valueReference": {"reference": "Patient/p1"}},
        {
            "name": "context",
            "part": [{"name": "name", "valueString": "patient"}, {"name": "content", "resource": patient()}],
        },
        {
            "name": "context",
            "part": [
                {"name": "name", "valueString": "record"},
                {
                    "name": "content",
                    "resource": {
                        "resourceType": "Bundle",
                        "type": "collection",
                        "entry": [{"resource": pregnancy()}, {"resource": due(date.today() + timedelta(days=90))}],
                    },
                },
            ],
        },
    )
    r = client.post("/fhir/Questionnaire/$populate", json=body, headers=FHIR)
    assert r.status_code == 200 and r.mimetype == "application/fhir+json" and r.headers["Cache-Control"] == "no-store"
    out = {p["name"]: p["resource"] for p in r.get_json()["parameter"]}
    assert out["response"]["resourceType"] == "QuestionnaireResponse" and out["response"]["status"] == "in-progress"
    assert answers(out["response"])["phase"] == "pregnant"


def test_operation_contains_the_patient_it_knows_so_the_referral_can_carry_her(web_app):
    """$populate read the patient (`local`): her identity and contact details come back contained as the subject
    (only what a referral carries), and the response, completed, leads to a Bundle that creates her by BSN. A
    patient known only by reference stays a reference."""
    client = web_app.test_client()
    body = params(
        {"name": "subject", "valueReference": {"reference": "Patient/demo-pregnant"}},
        {"name": "local", "valueBoolean": True},
    )
    r = client.post("/fhir/Questionnaire/kansrijke-start-signalering/$populate", json=body)
    qr = next(p["resource"] for p in r.get_json()["parameter"] if p["name"] == "response")
    [contained] = qr["contained"]
    assert qr["subject"] == {"reference": "#patient"} and contained["id"] == "patient"
    assert {"system": urls.BSN, "value": "999990020"} in contained["identifier"]
    assert "managingOrganization" not in contained and "active" not in contained  # identity, contact, language only
    ticked = {"signals": ("homeless",), "identifier": "populated-1"}
    completed = {**make_qr(**ticked, contained=False), "contained": qr["contained"], "subject": qr["subject"]}
    extracted = client.post("/fhir/QuestionnaireResponse/$extract", json=completed)
    assert extracted.status_code == 200, extracted.get_data(as_text=True)[:300]
    [_record, destination] = [e["resource"] for e in extracted.get_json()["entry"]]
    [patient] = [e for e in destination["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert patient["request"]["ifNoneExist"] == f"identifier={urls.BSN}|999990020"
    unknown = params({"name": "subject", "valueReference": {"reference": "Patient/p1"}})
    r = client.post("/fhir/Questionnaire/kansrijke-start-signalering/$populate", json=unknown)
    qr = next(p["resource"] for p in r.get_json()["parameter"] if p["name"] == "response")
    assert qr["subject"] == {"reference": "Patient/p1"} and "contained" not in qr


def test_operation_local_reads_the_configured_server_and_suggests(web_app):
    client = web_app.test_client()
    body = params(
        {"name": "subject", "valueReference": {"reference": "Patient/demo-pregnant"}},
        {"name": "local", "valueBoolean": True},
    )
    r = client.post("/fhir/Questionnaire/kansrijke-start-signalering/$populate", json=body)
    assert r.status_code == 200
    out = {p["name"]: p["resource"] for p in r.get_json()["parameter"]}
    assert answers(out["response"])["phase"] == "pregnant" and "due-date" in answers(out["response"])
    # the suggestion points at where the unanswered item belongs: its group in the response (simple FHIRPath)
    teen = [i for i in out["issues"]["issue"] if i["severity"] == "information" and i.get("expression")]
    assert len(teen) == 1 and "jaar" in teen[0]["details"]["text"]
    (node,) = fhirpathpy.evaluate(out["response"], teen[0]["expression"][0])
    assert node.get("linkId", "the response") in ("other-signals", "the response")  # its group, or the response
    assert "teenage-pregnancy" not in index_answers(out["response"]).values
    audit = web_app.extensions["ks"].delivery.audit.entries(patient="Patient/demo-pregnant")
    assert [(a["event"], a["who"]) for a in audit] == [("populate", "anonymous")]  # the open API: nobody authenticated


def test_operation_child_record_via_local(web_app):
    body = params(
        {"name": "subject", "valueReference": {"reference": "Patient/demo-child-1y"}},
        {"name": "local", "valueBoolean": True},
    )
    out = {
        p["name"]: p["resource"]
        for p in web_app.test_client().post("/fhir/Questionnaire/$populate", json=body).get_json()["parameter"]
    }
    assert answers(out["response"])["phase"] == "postpartum"


@pytest.mark.parametrize(
    "body,status",
    [
        (params({"name": "local", "valueBoolean": True}), 400),  # no subject
        (params({"name": "subject", "valueReference": {"reference": "Practitioner/x"}}), 400),
        ({"resourceType": "Patient", "id": "x"}, 400),
        (
            params(
                {"name": "subject", "valueReference": {"reference": "Patient/p1"}},
                {"name": "questionnaire", "valueUri": "http://example.org/Questionnaire/other"},
            ),
            404,
        ),
    ],
)
def test_operation_refusals_are_operation_outcomes(client, body, status):
    r = client.post("/fhir/Questionnaire/$populate", json=body)
    assert r.status_code == status and r.get_json()["resourceType"] == "OperationOutcome"


def test_operation_unknown_instance(client):
    body = params({"name": "subject", "valueReference": {"reference": "Patient/p1"}})
    assert client.post("/fhir/Questionnaire/nope/$populate", json=body).status_code == 404


def test_operation_context_named_as_a_variable_is_used_as_it(client):
    """SDC: a `context` named as a Questionnaire variable is that variable (here: the due-date Observations)."""
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": due(date.today() + timedelta(days=60))}],
    }
    body = params(
        {"name": "subject", "valueReference": {"reference": "Patient/p1"}},
        {
            "name": "context",
            "part": [{"name": "name", "valueString": "dueDateObservations"}, {"name": "content", "resource": bundle}],
        },
    )
    out = {
        p["name"]: p["resource"]
        for p in client.post("/fhir/Questionnaire/$populate", json=body).get_json()["parameter"]
    }
    assert answers(out["response"]) == {
        "phase": "pregnant",
        "due-date": (date.today() + timedelta(days=60)).isoformat(),
    }


def test_operation_local_with_the_server_down_warns_and_fills_nothing(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "data_dir": tmp_path,
            "fhir_base_url": "http://127.0.0.1:9/fhir",
            "fhir_connect_timeout": 0.5,
            "fhir_read_timeout": 0.5,
        }
    )
    body = params(
        {"name": "subject", "valueReference": {"reference": "Patient/demo-pregnant"}},
        {"name": "local", "valueBoolean": True},
    )
    r = app.test_client().post("/fhir/Questionnaire/$populate", json=body)
    assert r.status_code == 200
    out = {p["name"]: p["resource"] for p in r.get_json()["parameter"]}
    assert answers(out["response"]) == {}
    assert [(i["severity"], i["code"]) for i in out["issues"]["issue"] if i["severity"] != "information"] == [
        ("warning", "transient")
    ]
