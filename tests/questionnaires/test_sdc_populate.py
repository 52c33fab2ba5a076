"""The pre-fill is declared in the Questionnaire, so another SDC tool reads it: CSIRO's `@aehrc/sdc-populate`
(the $populate of Smart Forms, npm, tests/questionnaires/js) pre-fills the same answers from the same record
as our $populate — the demo EHR's patients and every edge case of tests/web/test_populate.py.

Node.js and the npm package are required: without them the test fails, saying what to install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from service.demo import demo_resources
from service.fhir import urls
from service.questionnaires.linkids import TEENAGE
from service.questionnaires.populate import populate
from service.questionnaires.sdc import LAUNCH_CONTEXT_SYSTEM, declarations
from service.referrals.pipeline import PRACTICE_ZONE
from service.rules.fhirpath import check_syntax
from tests.factories import answers_by_link_id
from tests.web.test_populate import TODAY, due, patient, pregnancy

JS = Path(__file__).resolve().parent / "js"
NPM_CI = "npm ci --prefix tests/questionnaires/js --omit=optional"


@pytest.fixture(scope="module")
def qdef(engine):
    return engine.catalog.find(engine.ruleset().questionnaire)


def sdc_populate(questionnaire: dict, today: date, cases: dict[str, dict]) -> dict[str, dict]:
    """Each case ({patient, resources, user?, encounter?}) pre-filled by @aehrc/sdc-populate on `today`."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed (node not on PATH): @aehrc/sdc-populate cannot run", pytrace=False)
    if not (JS / "node_modules" / "@aehrc" / "sdc-populate").is_dir():
        pytest.fail(f"npm package @aehrc/sdc-populate is not installed in {JS}: run {NPM_CI}", pytrace=False)
    payload = {
        "questionnaire": questionnaire,
        "today": today.isoformat(),
        "cases": [{"id": cid, **case} for cid, case in cases.items()],
    }
    proc = subprocess.run(
        [node, str(JS / "populate.mjs")],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TZ": "Europe/Amsterdam"},
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"tests/questionnaires/js/populate.mjs failed ({proc.returncode}): {proc.stderr.strip()[:2000]}")
    out = json.loads(proc.stdout)
    assert out["version"] == "4.7.1"
    assert out["errors"] == []  # every search answered from the record; no terminology or network call
    return out["cases"]


def edge_cases() -> dict[str, tuple[dict, list[dict]]]:
    """tests/web/test_populate.py's records: (patient, the record's resources)."""
    cases = {
        "pregnancy-and-future-due-date": (patient(), [due(TODAY + timedelta(days=100)), pregnancy()]),
        "icpc-w78-alone": (patient(), [pregnancy(code=("http://hl7.org/fhir/sid/icpc-2", "W78"))]),
        "future-due-date-alone": (patient(), [due(TODAY + timedelta(days=30))]),
        "overdue-within-two-weeks": (patient(), [due(TODAY - timedelta(days=5)), pregnancy()]),
        "long-past-due-date-pregnant": (patient(), [due(TODAY - timedelta(days=40)), pregnancy()]),
        "latest-assessment-counts": (
            patient(),
            [
                due(TODAY + timedelta(days=150), recorded="2026-10-01", oid="new"),
                due(TODAY + timedelta(days=200), recorded="2026-05-01", oid="old"),
                pregnancy(),
            ],
        ),
        "observations-entered-in-error-or-other-patients": (
            patient(),
            [
                due(TODAY + timedelta(days=90), status="entered-in-error"),
                due(TODAY + timedelta(days=90), pid="other", oid="x"),
            ],
        ),
        "no-record": (patient(), []),
    }
    for days in (-30, -1, 0, 44 * 7, 44 * 7 + 1):
        cases[f"due-date-alone-{days:+d}-days"] = (patient(), [due(TODAY + timedelta(days=days))])
    for i, condition in enumerate(
        [
            pregnancy(status="resolved"),
            pregnancy(status="inactive"),
            pregnancy(verificationStatus={"coding": [{"code": "entered-in-error"}]}),
            pregnancy(abatementDateTime="2026-01-01"),
            pregnancy(abatementDateTime="2027-01-01"),
            pregnancy(pid="someone-else"),
            pregnancy(code=(urls.SNOMED, "74732009")),
        ]
    ):
        cases[f"condition-{i}"] = (patient(), [condition])
    for days in (30, 400, 5 * 365, 12 * 365 - 1, 12 * 366, 25 * 365):
        cases[f"patient-aged-{days}-days"] = (patient(birth=(TODAY - timedelta(days=days)).isoformat()), [])
    due_day = TODAY + timedelta(days=120)
    mother = patient(birth=(due_day.replace(year=due_day.year - 19) - timedelta(days=40)).isoformat())
    cases["teenage-mother"] = (mother, [due(due_day), pregnancy()])
    return cases


def demo_cases(engine, today: date) -> dict[str, dict]:
    """Every patient of the demo EHR, the whole demo record searched, with the GP and today's consultation."""
    res = demo_resources(engine.ruleset(), today)
    by_id = {(r["resourceType"], r["id"]): r for r in res}
    return {
        f"demo-{r['id']}": {
            "patient": r,
            "resources": res,
            "user": by_id[("Practitioner", "demo-gp-practitioner")],
            "encounter": by_id[("Encounter", f"{r['id']}-consult")],
        }
        for r in res
        if r["resourceType"] == "Patient"
    }


def test_the_questionnaire_declares_its_prefill(qdef):
    decl = declarations(qdef.resource)
    assert [(c.name, c.types) for c in decl.launch_contexts] == [
        ("patient", ("Patient",)),
        ("encounter", ("Encounter",)),
        ("user", ("Practitioner", "PractitionerRole")),
    ]
    for ext in qdef.resource["extension"]:
        if ext["url"].endswith("sdc-questionnaire-launchContext"):
            assert ext["extension"][0]["valueCoding"]["system"] == LAUNCH_CONTEXT_SYSTEM  # Smart Forms reads [0], [1]
            assert ext["extension"][1]["url"] == "type"
    queries = {v.name: v.expression for v in decl.variables if v.language == "application/x-fhir-query"}
    assert queries == {
        "dueDateObservations": "Observation?patient={{%patient.id}}&code=http://loinc.org|11778-8,http://loinc.org|11779-6,"
        "http://loinc.org|11780-4",
        "pregnancyConditions": "Condition?patient={{%patient.id}}&code=http://snomed.info/sct|77386006,W78",
    }
    assert [link_id for link_id, _ in decl.initial_expressions] == ["phase", "due-date", "child-birth-date"]
    assert TEENAGE not in dict(decl.initial_expressions)  # a suggestion, never an answer: no expression fills it
    for expression in decl.expressions():
        check_syntax(expression)  # fhirpathpy's parser would recover silently from a mistake; this one does not


def test_sdc_populate_prefills_what_our_populate_does(qdef):
    cases = edge_cases()
    ours = {
        cid: answers_by_link_id(
            populate(
                qdef,
                pat,
                [r for r in res if r["resourceType"] == "Observation"],
                [r for r in res if r["resourceType"] == "Condition"],
                TODAY,
            )
        )
        for cid, (pat, res) in cases.items()
    }
    theirs = sdc_populate(
        qdef.resource, TODAY, {cid: {"patient": pat, "resources": [pat, *res]} for cid, (pat, res) in cases.items()}
    )
    for cid in cases:
        assert theirs[cid]["ok"] and theirs[cid]["issues"] is None, (cid, theirs[cid])
        assert answers_by_link_id(theirs[cid]["response"]) == ours[cid], cid
    assert ours["pregnancy-and-future-due-date"]["due-date"] == [
        {"valueDate": (TODAY + timedelta(days=100)).isoformat()}
    ]
    assert ours["patient-aged-400-days"]["phase"][0]["valueCoding"]["code"] == "postpartum"
    assert ours["no-record"] == {} and TEENAGE not in ours["teenage-mother"]
    assert sum(1 for a in ours.values() if a) >= 12  # the comparison is over answers, not mostly empty forms


def test_sdc_populate_prefills_the_demo_record_as_our_operation(engine, qdef, client):
    """Through our POST /fhir/Questionnaire/$populate (today, the record in `context`) and sdc-populate."""
    today = datetime.now(PRACTICE_ZONE).date()
    cases = demo_cases(engine, today)
    theirs = sdc_populate(qdef.resource, today, cases)
    seen = set()
    for cid, case in cases.items():
        body = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "questionnaire", "valueUri": qdef.canonical},
                {"name": "subject", "valueReference": {"reference": f"Patient/{case['patient']['id']}"}},
                {
                    "name": "context",
                    "part": [
                        {"name": "name", "valueString": "patient"},
                        {"name": "content", "resource": case["patient"]},
                    ],
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
                                "entry": [{"resource": r} for r in case["resources"]],
                            },
                        },
                    ],
                },
            ],
        }
        r = client.post("/fhir/Questionnaire/$populate", json=body)
        assert r.status_code == 200, r.get_json()
        ours = answers_by_link_id(next(p["resource"] for p in r.get_json()["parameter"] if p["name"] == "response"))
        assert theirs[cid]["ok"] and theirs[cid]["issues"] is None, (cid, theirs[cid])
        assert answers_by_link_id(theirs[cid]["response"]) == ours, cid
        assert theirs[cid]["response"]["encounter"]["reference"] == f"Encounter/{case['patient']['id']}-consult"
        seen.add(ours.get("phase", [{}])[0].get("valueCoding", {}).get("code"))
    assert {"pregnant", "postpartum"} <= seen


@pytest.mark.parametrize(
    "odd",
    [
        {"birthDate": 0},  # a number where FHIR has a date: fhirpathpy raises a bare Exception comparing it
        {"birthDate": {"value": "2001-01-01"}},
    ],
)
def test_odd_record_data_gives_no_prefill_not_a_crash(qdef, odd):
    """A record read from the EHR's server is not ours to check: what cannot be evaluated is not pre-filled."""
    odd_patient = {**patient(), **odd}
    observations = [
        {**pregnancy(), "code": {"coding": "not-a-list"}},
        {**due(TODAY + timedelta(days=90)), "subject": "not-an-object"},
    ]
    qr = populate(qdef, odd_patient, observations, [], TODAY)
    assert qr["resourceType"] == "QuestionnaireResponse" and qr["status"] == "in-progress"
    assert TEENAGE not in answers_by_link_id(qr)
