"""Audit completeness (NEN 7513, issue 11): every route of the app (from its url_map, the sandbox on) and every
CLI command (from its parser) is classified as reading or writing patient data or not; each one that does is
exercised and must leave exactly one audit row — who, which patient (by the EHR's id and/or the BSN, one
person), what, when and access point — and the export finds every row of the patient whichever identifier
is given. A new route or command without a classification fails here."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from service import create_app
from service.cli import build_parser, main
from service.embedded.sekmet import free_port
from service.fhir import urls
from service.fhir.client import FhirClient
from service.inbox.auth import COOKIE_NAME as INBOX_COOKIE

ROOT = Path(__file__).resolve().parent.parent
PATIENT = "demo-pregnant"
REF, BSN = f"Patient/{PATIENT}", f"{urls.BSN}|999990020"
QUESTIONNAIRE = "https://kansrijke-start.github.io/fhir/Questionnaire/kansrijke-start-signalering"

STORES_NOTHING = "processes the caller's own data and stores or reads nothing stored (README, Privacy)"
# method + rule → None: reads or writes patient data (exercised below), or why it does not
ROUTES: dict[str, str | None] = {
    "GET /static/<path:filename>": "static files",
    "GET /fhir/metadata": "the CapabilityStatement",
    "GET /healthz": "the health check: the database answers, nothing about a patient (service/health.py)",
    "GET /fhir/openapi.json": "the API's description",
    "GET /fhir/.well-known/smart-configuration": "the API's authentication metadata",
    "POST /auth/token": "an API client's token (SMART Backend Services)",
    "POST /fhir/QuestionnaireResponse/$validate": STORES_NOTHING,
    "POST /fhir/QuestionnaireResponse/$evaluate": None,  # reads the record of referrals made (the recent flag)
    "POST /fhir/QuestionnaireResponse/$extract": STORES_NOTHING,
    "GET /launch": "starts a login at the EHR: nothing about a patient is read",
    "GET /launch/standalone": "starts a login, or lists the registered EHRs",
    "GET /callback": None,
    # the recipients' inbox (issue 13): its sign-in and sign-out are audit rows without a patient (tests/inbox)
    "GET /inbox": None,  # the worklist: one row per patient shown, by BSN
    "GET /inbox/login": "starts a sign-in at a registered identity provider, or lists them",
    "GET /inbox/callback": "a recipient's staff member signs in: a row without a patient (tests/inbox)",
    "POST /inbox/logout": "ends an inbox session: a row without a patient (tests/inbox)",
    "POST /inbox/language": "the inbox's language switch: nothing about a patient",
    # the mirror figures (issue 14): counts of de-identified events, never a patient (tests/mirror)
    "GET /inbox/region": "the region's mirror figures, suppressed: counts of de-identified events, no patient",
    "GET /inbox/region/figures.csv": "the same figures as CSV: no patient",
    "GET /practice/mirror": "the practice's mirror figures: counts of de-identified events, no patient",
    "GET /practice/mirror/figures.csv": "the same figures as CSV: no patient",
    "GET /fhir/Measure": "the published Measures (conformance resources)",
    "GET /fhir/Measure/<fhirid:rid>": "a published Measure",
    "GET /fhir/MeasureReport": "the mirror figures as MeasureReports: counts of de-identified events, no patient",
    "GET /inbox/referral/<task_id>": None,  # a referral's detail at the recipient: the patient by BSN
    "POST /inbox/referral/<task_id>/<action>": None,  # a step on it
    "POST /fhir/QuestionnaireResponse": None,
    "POST /fhir/QuestionnaireResponse/$submit": None,
    "GET /fhir/QuestionnaireResponse/<fhirid:rid>": None,
    "GET /fhir/QuestionnaireResponse/<fhirid:rid>/_history/<fhirid:vid>": None,
    "GET /fhir/QuestionnaireResponse/<fhirid:rid>/$referral-status": None,
    "POST /fhir/QuestionnaireResponse/<fhirid:rid>/$referral-status": None,
    "GET /fhir/QuestionnaireResponse/<fhirid:rid>/$validate": None,  # of the stored response
    "POST /fhir/QuestionnaireResponse/<fhirid:rid>/$validate": None,
    "GET /fhir/QuestionnaireResponse/<fhirid:rid>/$extract": None,
    "POST /fhir/QuestionnaireResponse/<fhirid:rid>/$extract": None,
    "POST /fhir/Questionnaire/$populate": None,
    "POST /fhir/Questionnaire/<qid>/$populate": None,
    "GET /form": None,
    "POST /form/panel": "the live panel: the request's own fields with the facts GET /form read (its row)",
    "POST /form/update": None,
    "POST /form/language": None,  # when it keeps the form's fields (_form=main); a bare switch touches nothing
    "POST /form/draft": None,
    "POST /form/review": None,
    "GET /form/meldcode": None,
    "POST /form/meldcode": None,
    "GET /form/review": None,
    "POST /form/consent": None,
    "POST /form/send": None,
    "GET /form/sent": None,
    "POST /form/new": None,
    # the practice's overview of its referrals (issue 13): one row per patient it lists, by her BSN
    "GET /practice/referrals": None,
    "POST /practice/referrals/cancel": None,  # the GP's cancel: asked (the Task read), then made; by her BSN
}
SANDBOX = "the demo EHR (KS_SANDBOX=1 only, invented patients): an EHR logs its own accesses"
# the published conformance resources: read, or searched by GET or by POST to _search
CATALOGUE = re.compile(r"GET /fhir/<any\([A-Za-z, ]+\):rtype>(/<rid>)?|POST /fhir/<any\([A-Za-z, ]+\):rtype>/_search")
# command [action] → None: reads or writes patient data (exercised below), or why it does not
COMMANDS: dict[str, str | None] = {
    "validate": STORES_NOTHING,
    "evaluate": STORES_NOTHING,
    "extract": STORES_NOTHING,
    "demo-data": "loads the invented demo data",
    "db upgrade": "the schema of the service's tables (migrations): no row about a patient read or written",
    "outbox list": "ids, destinations and states: nothing about the patient",
    "submit": None,
    "outbox show": None,
    "outbox retry": None,
    "consent withdraw": None,
    "cancel": None,  # the practice's cancel: taken back from the outbox, or cancelled at the recipient
    "audit": None,
    "report": "the mirror figures: de-identified counts per practice and quarter (docs/mirror-events.md), no patient",
}


def app_routes(app) -> set[str]:
    return {
        f"{method} {rule.rule}"
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    }


def cli_commands() -> set[str]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    out = set()
    for name, command in sub.choices.items():
        actions = [a for a in command._actions if a.dest == "action" and a.choices]
        out |= {f"{name} {choice}" for a in actions for choice in a.choices} if actions else {name}
    return out


def classification(key: str, table: dict[str, str | None]) -> str | None:
    if key not in table and " /sandbox/" in key:
        return SANDBOX
    if key not in table and CATALOGUE.fullmatch(key):
        return "the published catalogue"
    if key not in table:
        pytest.fail(f"{key}: not classified in tests/test_audit_completeness.py (patient data or not?)")
    return table[key]


class Recorder:
    """The rows each exercised route or command added."""

    def __init__(self, audit):
        self.audit = audit
        self.rows: dict[str, list[list[dict]]] = {}

    def __call__(self, key: str, action, *, rows: int = 1):
        before = len(self.audit.entries())
        result = action()
        added = self.audit.entries()[before:]
        assert len(added) == rows, f"{key}: {len(added)} audit rows, wanted {rows}: {[r['event'] for r in added]}"
        self.rows.setdefault(key, []).append(added)
        return result


@pytest.fixture()
def sekmet_demo(sekmet_servers):
    """This test's own server with the demo data (not the run's shared one): the coordinator's worklist then lists
    only the referrals this test makes, all of them for its one patient."""
    return sekmet_servers.get("audit-completeness", demo=True)


@pytest.fixture()
def live_app(tmp_path, sekmet_demo):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "TESTING": True,
            "data_dir": tmp_path / "data",
            "fhir_base_url": sekmet_demo.base_url,
            "sandbox": "on",
            "public_url": base,
        }
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.base = base
    yield app
    server.shutdown()


def smart_launch(base: str) -> requests.Session:
    """The sandbox EHR launches the app for the patient: /launch, authorize, /callback (the banner's read)."""
    s = requests.Session()
    r = s.get(f"{base}/sandbox/launch", params={"patient": PATIENT, "user": "demo-gp"}, allow_redirects=False)
    while r.status_code in (301, 302, 303) and not r.headers["Location"].endswith("/form"):
        where = r.headers["Location"]
        r = s.get(where if where.startswith("http") else base + where, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"].endswith("/form")
    return s


def inbox_session(app, base: str) -> requests.Session:
    """A coordinator's inbox session, stored as the sign-in stores one (the sign-in's own rows name no patient:
    tests/inbox), the browser holding its cookie."""
    sid = app.extensions["ks"].inbox.new_id()
    user = {"provider": "sandbox", "sub": "demo-jgz", "name": "Marieke Hendriks", "recipient": "regiocoordinator-jgz"}
    app.extensions["ks"].inbox.save_session(sid, user)
    s = requests.Session()
    s.cookies.set(INBOX_COOKIE, sid, domain="127.0.0.1", path="/inbox")
    return s


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert match
    return match.group(1)


FIELDS = {
    "phase": "pregnant",
    "due-date": "2027-03-01",
    "domestic-violence": "true",
    "financial-problems": "true",
    "children-in-household": "2",
    "consent-given": "true",
    "consent-method": "verbal",
}


def test_every_route_and_command_is_classified_and_each_patient_access_is_one_row(
    live_app, sekmet_demo, tmp_path, monkeypatch, capsys
):
    base, audit = live_app.base, live_app.extensions["ks"].delivery.audit
    routes = {key: classification(key, ROUTES) for key in app_routes(live_app)}
    commands = {key: classification(key, COMMANDS) for key in cli_commands()}
    assert set(ROUTES) <= set(routes), f"classified but gone: {set(ROUTES) - set(routes)}"
    assert set(COMMANDS) <= set(commands), f"classified but gone: {set(COMMANDS) - set(commands)}"
    record = Recorder(audit)

    # ---- the SMART launch: /launch and the authorization write nothing; the callback's banner read is one row
    s = record("GET /callback", lambda: smart_launch(base))
    get = lambda path: s.get(base + path, allow_redirects=False, timeout=30)  # noqa: E731
    token = csrf(record("GET /form", lambda: get("/form")).text)  # populate from the record

    def post(path, data=None, **kw):
        return s.post(base + path, data={"csrf_token": token, **(data or {})}, allow_redirects=False, timeout=30, **kw)

    assert record("(the live panel)", lambda: post("/form/panel", FIELDS), rows=0).status_code == 200
    assert record("POST /form/update", lambda: post("/form/update", FIELDS)).status_code == 303
    record("POST /form/language", lambda: post("/form/language", {"lang": "nl", "_form": "main", **FIELDS}))
    record("POST /form/language", lambda: post("/form/language", {"lang": "nl"}), rows=0)  # a bare switch
    assert record("POST /form/draft", lambda: post("/form/draft", {"_form": "main", **FIELDS})).status_code == 303
    # the draft reopened by the next launch for the patient: the callback again, and the form from the draft
    s = record("GET /callback", lambda: smart_launch(base))
    html = record("GET /form", lambda: get("/form")).text
    assert 'name="domestic-violence" value="true" checked' in html
    token = csrf(html)
    r = record("POST /form/review", lambda: post("/form/review", FIELDS))
    assert r.status_code == 303 and r.headers["Location"].endswith("/form/meldcode")
    assert record("GET /form/meldcode", lambda: get("/form/meldcode")).status_code == 200
    done = {"meldcode-step": ["signalen"], "children-in-household": "2", "meldcode-informed": "yes"}
    assert record("POST /form/meldcode", lambda: post("/form/meldcode", done)).status_code == 303
    assert record("GET /form/review", lambda: get("/form/review")).status_code == 200
    consent = {"consent-for-regiocoordinator-jgz": "true", "consent-method": "verbal"}
    assert record("POST /form/consent", lambda: post("/form/consent", consent)).status_code == 303
    r = record("POST /form/send", lambda: post("/form/send", consent))
    assert r.status_code == 303 and r.headers["Location"].endswith("/form/sent"), r.text[:300]
    assert record("GET /form/sent", lambda: get("/form/sent")).status_code == 200
    overview = record("GET /practice/referrals", lambda: get("/practice/referrals"))
    assert overview.status_code == 200 and "Lisa" in overview.text  # her referral, just sent
    [listed] = record.rows["GET /practice/referrals"][0]
    assert listed["patient"] is None and listed["patient_identifier"] == BSN  # never tied to the launch's patient
    assert record("POST /form/new", lambda: post("/form/new")).status_code == 303
    [send] = record.rows["POST /form/send"][0]
    # one access: the patient read, the submit, its push and the write-back in one row, by id and by BSN
    assert send["patient"] == REF and send["patient_identifier"] == BSN and send["action"] == "C"
    assert all(part in send["object"] for part in ("patient-read", "submit", "push", "ehr-write")), send["object"]

    # ---- the recipient's inbox: the coordinator opens the referral just sent and accepts it (one row each, by BSN)
    inbox = inbox_session(live_app, base)
    submission_id = re.search(r"submit (\S+) →", send["object"]).group(1)
    task_id = FhirClient(sekmet_demo.base_url).search(
        "Task", {"identifier": f"{urls.ID_TASK}|{submission_id}:regiocoordinator-jgz"}
    )["entry"][0]["resource"]["id"]
    page = record("GET /inbox/referral/<task_id>", lambda: inbox.get(f"{base}/inbox/referral/{task_id}", timeout=30))
    assert page.status_code == 200, page.text[:300]
    form = {"csrf_token": csrf(page.text), "version": re.search(r'name="version" value="([^"]+)"', page.text)[1]}
    r = record(
        "POST /inbox/referral/<task_id>/<action>",
        lambda: inbox.post(f"{base}/inbox/referral/{task_id}/accept", data=form, allow_redirects=False, timeout=30),
    )
    assert r.status_code == 303, r.text[:300]
    assert [row["action"] for rows in record.rows["POST /inbox/referral/<task_id>/<action>"] for row in rows] == ["U"]
    # her accepted referral is on the coordinator's worklist: one row, by her BSN, naming the Task
    worklist = record("GET /inbox", lambda: inbox.get(f"{base}/inbox", timeout=30))
    assert worklist.status_code == 200 and f"/inbox/referral/{task_id}" in worklist.text, worklist.text[:300]
    [listed] = record.rows["GET /inbox"][0]
    assert listed["event"] == "inbox-worklist" and listed["action"] == "R" and listed["patient_identifier"] == BSN
    assert listed["patient"] is None and f"Task/{task_id}" in listed["object"], listed
    switch = {"csrf_token": form["csrf_token"], "lang": "en", "next": "/inbox"}
    record(
        "(not patient data)", lambda: inbox.post(f"{base}/inbox/language", data=switch, allow_redirects=False), rows=0
    )

    # ---- the GP cancels it from the overview: asked first (the Task read at the recipient), then made (one row each)
    fields = {"submission": submission_id, "recipient": "regiocoordinator-jgz", "back": "practice_referrals"}
    asked = record("POST /practice/referrals/cancel", lambda: post("/practice/referrals/cancel", fields))
    assert asked.status_code == 200, asked.text[:300]
    fields |= {"version": re.search(r'name="version" value="([^"]+)"', asked.text)[1], "confirm": "yes"}
    r = record("POST /practice/referrals/cancel", lambda: post("/practice/referrals/cancel", fields))
    assert r.status_code == 303, r.text[:300]
    assert [row["action"] for rows in record.rows["POST /practice/referrals/cancel"] for row in rows] == ["R", "U"]

    # ---- the API (open: KS_API_AUTH=none): "who" says that nobody was authenticated
    qr = json.loads((ROOT / "examples" / "pregnant-urgent.json").read_text(encoding="utf-8"))
    qr["identifier"]["value"] = "audit-completeness-api"
    fhir = {"Content-Type": "application/fhir+json"}
    r = record("POST /fhir/QuestionnaireResponse", lambda: requests.post(f"{base}/fhir/QuestionnaireResponse", json=qr))
    assert r.status_code in (201, 202), r.text[:300]
    version = r.headers["Location"].split("/fhir/", 1)[1]  # QuestionnaireResponse/<id>/_history/<vid>
    instance = version.split("/_history/")[0]
    for key, method, path in (
        ("GET /fhir/QuestionnaireResponse/<fhirid:rid>", "GET", instance),
        ("GET /fhir/QuestionnaireResponse/<fhirid:rid>/_history/<fhirid:vid>", "GET", version),
        ("GET /fhir/QuestionnaireResponse/<fhirid:rid>/$referral-status", "GET", f"{instance}/$referral-status"),
        ("POST /fhir/QuestionnaireResponse/<fhirid:rid>/$referral-status", "POST", f"{instance}/$referral-status"),
        ("GET /fhir/QuestionnaireResponse/<fhirid:rid>/$validate", "GET", f"{instance}/$validate"),
        ("POST /fhir/QuestionnaireResponse/<fhirid:rid>/$validate", "POST", f"{instance}/$validate"),
        ("GET /fhir/QuestionnaireResponse/<fhirid:rid>/$extract", "GET", f"{instance}/$extract"),
        ("POST /fhir/QuestionnaireResponse/<fhirid:rid>/$extract", "POST", f"{instance}/$extract"),
    ):
        r = record(key, lambda m=method, p=path: requests.request(m, f"{base}/fhir/{p}", timeout=30))
        assert r.status_code == 200, f"{key}: {r.status_code} {r.text[:300]}"
    again = {**qr, "identifier": {**qr["identifier"], "value": "audit-completeness-api-submit"}}
    r = record(
        "POST /fhir/QuestionnaireResponse/$submit",
        lambda: requests.post(f"{base}/fhir/QuestionnaireResponse/$submit", json=again, timeout=30),
    )
    assert r.status_code in (201, 202), r.text[:300]
    # $evaluate looks up the referrals made for her recently (service/referrals/recent.py): one row
    later = {**qr, "identifier": {**qr["identifier"], "value": "audit-completeness-api-evaluate"}}
    r = record(
        "POST /fhir/QuestionnaireResponse/$evaluate",
        lambda: requests.post(f"{base}/fhir/QuestionnaireResponse/$evaluate", json=later, timeout=30),
    )
    assert r.status_code == 200 and "business-rule" in r.text, r.text[:300]  # $submit's referral, flagged
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subject", "valueReference": {"reference": REF}},
            {"name": "local", "valueBoolean": True},
        ],
    }
    for key, path in (
        ("POST /fhir/Questionnaire/$populate", "/fhir/Questionnaire/$populate"),
        ("POST /fhir/Questionnaire/<qid>/$populate", "/fhir/Questionnaire/kansrijke-start-signalering/$populate"),
    ):
        body_with_q = body if "<qid>" in key else {**body, "parameter": [*body["parameter"], _questionnaire_param()]}
        r = record(key, lambda p=path, b=body_with_q: requests.post(base + p, data=json.dumps(b), headers=fhir))
        assert r.status_code == 200, r.text[:300]
        [row] = record.rows[key][0]
        assert row["who"] == "anonymous" and row["access_point"].startswith("api:127.0.0.1")
    for path in ("/fhir/QuestionnaireResponse/$validate", "/fhir/metadata"):  # not patient data: no row
        record(
            "(not patient data)",
            lambda p=path: requests.request("POST" if "$" in p else "GET", base + p, json=qr),
            rows=0,
        )

    # ---- the CLI, on the same data folder
    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("KS_FHIR_BASE_URL", raising=False)
    cli_qr = tmp_path / "qr.json"
    cli_qr.write_text(json.dumps({**qr, "identifier": {**qr["identifier"], "value": "audit-completeness-cli"}}))
    assert record("submit", lambda: main(["submit", str(cli_qr)])) == 0  # no server: it waits in the outbox
    submission = re.search(r"submission (\S+):", capsys.readouterr().out).group(1)
    record("(not patient data)", lambda: main(["outbox", "list"]), rows=0)
    monkeypatch.setenv("KS_FHIR_BASE_URL", sekmet_demo.base_url)
    assert record("outbox retry", lambda: main(["outbox", "retry", submission])) == 0
    [retry] = record.rows["outbox retry"][0]
    assert retry["who"] == "system:outbox" and retry["responsible"].startswith("cli:")
    assert record("outbox show", lambda: main(["outbox", "show", submission, "--bundle"])) == 0
    # the web send's item: its Bundle names her by BSN only, so this row does too (the export links it)
    sent = re.search(r"submit (\S+) →", send["object"]).group(1)
    [item] = live_app.extensions["ks"].delivery.outbox.for_submission(sent)
    assert record("outbox show", lambda: main(["outbox", "show", item.id])) == 0
    assert record.rows["outbox show"][1][0]["patient_identifier"] == BSN
    assert record("consent withdraw", lambda: main(["consent", "withdraw", submission, "regiocoordinator-jgz"])) == 0
    # a referral the server cannot take yet (none configured): the practice takes it back from the outbox
    monkeypatch.delenv("KS_FHIR_BASE_URL")
    cli_qr.write_text(json.dumps({**qr, "identifier": {**qr["identifier"], "value": "audit-completeness-cancel"}}))
    assert main(["submit", str(cli_qr)]) == 0  # (its own row: "submit" is exercised above)
    waiting = re.search(r"submission (\S+):", capsys.readouterr().out).group(1)
    cancel = ["cancel", f"{waiting}:regiocoordinator-jgz", "--reason", "Dubbel aangemeld"]
    assert record("cancel", lambda: main(cancel)) == 0
    [taken] = record.rows["cancel"][0]
    assert taken["action"] == "D" and taken["object"].endswith("; outbox") and taken["patient_identifier"] == BSN, taken
    capsys.readouterr()

    # ---- every exercised access: one row with who, patient (one person: her id and/or BSN), what, when, where
    exercised = {key for key in record.rows if not key.startswith("(")}
    patient_data = {k for k, why in {**routes, **commands}.items() if why is None}
    assert exercised | {"audit"} == patient_data, f"not exercised: {patient_data - exercised - {'audit'}}"
    everything = audit.entries()
    for row in everything:
        assert row["who"] and row["event"] and row["action"] in "CRUDE" and row["access_point"], row
        datetime.fromisoformat(row["recorded"])
        assert row["patient"] in (REF, None) and row["patient_identifier"] in (BSN, None), row
        assert row["patient"] or row["patient_identifier"], row
    # ... found whichever identifier is given
    assert (
        [r["seq"] for r in audit.entries(REF)]
        == [r["seq"] for r in audit.entries(BSN)]
        == [r["seq"] for r in everything]
    )
    for given in ([REF], [BSN], [REF, BSN]):
        args = [a for ref in given for a in ("--patient", ref)]
        assert record("audit", lambda a=args: main(["audit", *a])) == 0  # one export row, whatever was given
        out = [json.loads(line)["seq"] for line in capsys.readouterr().out.splitlines()]
        assert out == [r["seq"] for r in everything]  # all of hers, each once
        everything = audit.entries()
    counts = {key: [len(rows) for rows in runs] for key, runs in record.rows.items()}
    print("audit rows per exercised route/command:", json.dumps(counts))
    print(
        f"classified: {len(routes)} routes ({sum(v is None for v in routes.values())} patient data), "
        f"{len(commands)} commands ({sum(v is None for v in commands.values())} patient data)"
    )


def _questionnaire_param() -> dict:
    return {"name": "questionnaire", "valueCanonical": f"{QUESTIONNAIRE}|1.0.0"}
