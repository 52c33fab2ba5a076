"""Issue 12, point 4: a referral made recently for the same patient to the same recipient — from the practice's
form or through the API — is flagged before the next one is sent: at review (a warning per recipient, the
send not blocked), in the API's $evaluate and $submit answers (an OperationOutcome issue of severity warning),
and API submissions are listed under "Eerder verwezen" on the form. Against the real FHIR servers of the page
tests (service/referrals/recent.py keeps the record)."""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime

import pytest
import yaml
from joserfc import jwt
from joserfc.jwk import RSAKey

from service.fhir import urls
from service.referrals.pipeline import PRACTICE_ZONE
from tests.factories import make_qr
from tests.sql import execute, rows
from tests.web.conftest import make_app
from tests.web.helpers import csrf_of
from tests.web.test_pages import PREGNANT, article, page, post, text_of

JGZ = "regiocoordinator-jgz"
JGZ_NAME = "Regiocoördinator Jeugdgezondheidszorg Maastricht-Heuvelland (GGD)"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
PUBLIC_URL = "http://localhost"


def today() -> set[str]:
    """Today as the practice's pages write it (either side of midnight while a test runs)."""
    return {datetime.fromtimestamp(t, PRACTICE_ZONE).strftime("%d-%m-%Y") for t in (time.time() - 120, time.time())}


def flag_of(review: str, recipient: str) -> str | None:
    """The recent-referral warning in one recipient's article of the review, or None."""
    part = review.split(f'data-recipient="{recipient}"')[1].split("</article>", maxsplit=1)[0]
    if 'class="recent-referral' not in part:
        return None
    return text_of(part.split('class="recent-referral', 1)[1].split("</p>", 1)[0].split(">", 1)[1]).strip()


def send_from_form(client, consent: dict[str, str]) -> str:
    """Review and send the routine homeless case for the client's patient; the confirmation's location."""
    token = csrf_of(page(client))
    assert post(client, "/form/review", {**PREGNANT, "homeless": "true"}, token).status_code == 303
    r = post(client, "/form/send", consent, token)
    assert r.status_code == 303 and r.headers["Location"].endswith("/form/sent"), r.get_data(as_text=True)[:400]
    return r.headers["Location"]


def review_of(client, *signals: str) -> str:
    """The review of the homeless case (and `signals`) for the client's patient."""
    token = csrf_of(page(client))
    fields = {**PREGNANT, "homeless": "true", **dict.fromkeys(signals, "true")}
    assert post(client, "/form/review", fields, token).status_code == 303
    return page(client, "/form/review")


JGZ_CONSENT = {f"consent-for-{JGZ}": "true", "consent-method": "verbal"}


def test_a_second_referral_from_the_form_is_flagged_at_review_for_that_recipient_only(as_user, web_app):
    first = as_user("demo-pregnant")
    assert 'class="recent-referral' not in review_of(first)  # nothing sent yet: nothing flagged
    send_from_form(first, JGZ_CONSENT)  # homeless: a referral to the coordinator only

    # the next launch for her (another user): a second urgent signal adds the POH Jeugd, never referred before
    again = review_of(as_user("demo-pregnant", user="demo-poh"), "substance-addiction")
    flag = flag_of(again, JGZ)
    assert flag is not None and any(
        flag == f"Let op: {JGZ_NAME} kreeg op {d} al een verwijzing voor deze patiënt (via het formulier)."
        for d in today()
    ), flag
    assert 'data-recipient="poh-jeugd"' in again and flag_of(again, "poh-jeugd") is None
    assert "Let op" not in article(again, "poh-jeugd")
    # another patient: nothing
    assert 'class="recent-referral' not in review_of(as_user("demo-child-1y"))
    # a flag, not a block: the second send goes, and the coordinator then has two referrals on record
    gp = as_user("demo-pregnant")
    review_of(gp)
    token = csrf_of(page(gp, "/form/review"))
    r = post(gp, "/form/send", JGZ_CONSENT, token)
    assert r.status_code == 303 and r.headers["Location"].endswith("/form/sent")
    record = web_app.extensions["ks"].delivery.recent
    assert len({x.submission for x in record.find(_keys(record, web_app), recipients=[JGZ])}) == 2
    assert {x.via for x in record.find(_keys(record, web_app))} == {"form"}


def _keys(record, app):
    """The record's keys of demo-pregnant at the test practice (what the pages look her up by)."""
    from service.referrals.recent import patient_keys

    registry = app.extensions["ks"].registry
    return patient_keys(registry.practice("test-ehr", "demo-practice"), "Patient/demo-pregnant", None)


def test_the_flag_ends_with_the_window_and_the_window_is_a_setting(tmp_path, recipients_server, ehr_server, as_user):
    app = make_app(tmp_path, recipients_server, ehr=ehr_server, recent_referral_days=45)
    send_from_form(as_user("demo-pregnant", app=app), JGZ_CONSENT)
    record = app.extensions["ks"].delivery.recent
    assert record.window_days == 45
    execute(record.db, "UPDATE recent_referral SET sent = sent - 44 * 86400")  # 44 days ago: inside 45 days
    assert flag_of(review_of(as_user("demo-pregnant", app=app)), JGZ) is not None
    execute(record.db, "UPDATE recent_referral SET sent = sent - 2 * 86400")  # 46 days ago: outside
    assert flag_of(review_of(as_user("demo-pregnant", app=app)), JGZ) is None
    # ... while "Eerder verwezen" still lists it (it keeps the form's three years)
    assert "Eerder verwezen vanuit de praktijk" in text_of(page(as_user("demo-pregnant", app=app)))


def test_the_window_setting_is_checked():
    from service.config import SettingsInvalid, load_settings

    assert load_settings({}).recent_referral_days == 30
    assert load_settings({"KS_RECENT_REFERRAL_DAYS": "7"}).recent_referral_days == 7
    with pytest.raises(SettingsInvalid, match="KS_RECENT_REFERRAL_DAYS must be 0 or more"):
        load_settings({"KS_RECENT_REFERRAL_DAYS": "-1"})


# ------------------------------------------------------------------------------------------------- the API


def warnings_of(body: dict) -> list[dict]:
    """The warning issues of an answer: a Parameters' `issues` OperationOutcome, or an OperationOutcome."""
    if body["resourceType"] == "OperationOutcome":
        outcome = body
    else:
        found = [p["resource"] for p in body["parameter"] if p["name"] == "issues"]
        outcome = found[0] if found else {"issue": []}
    return [i for i in outcome["issue"] if i["severity"] == "warning" and i["code"] == "business-rule"]


def api_qr(identifier: str, patient: str = "demo-pregnant") -> dict:
    return make_qr(signals=("homeless",), identifier=identifier, subject=f"Patient/{patient}")


def test_submit_twice_through_the_api_warns_the_second_time(web_app):
    api = web_app.test_client()
    first = api.post("/fhir/QuestionnaireResponse/$submit", json=api_qr("api-recent-1"), headers=FHIR_JSON)
    assert first.status_code in (201, 202), first.get_data(as_text=True)[:400]
    assert warnings_of(first.get_json()) == []
    # the same response again (a retry): the same submission, not a second referral
    retry = api.post("/fhir/QuestionnaireResponse/$submit", json=api_qr("api-recent-1"), headers=FHIR_JSON)
    assert warnings_of(retry.get_json()) == []
    # before sending a new one: $evaluate warns ...
    evaluated = api.post("/fhir/QuestionnaireResponse/$evaluate", json=api_qr("api-recent-2"), headers=FHIR_JSON)
    assert evaluated.status_code == 200
    [warning] = warnings_of(evaluated.get_json())
    assert any(
        warning["details"]["text"]
        == f"Let op: {JGZ_NAME} ({JGZ}) kreeg op {d} al een verwijzing voor deze patiënt (via het HIS/de API)."
        for d in today()
    ), warning
    # ... and so does the second submit, which is made all the same
    second = api.post("/fhir/QuestionnaireResponse/$submit", json=api_qr("api-recent-2"), headers=FHIR_JSON)
    assert second.status_code in (201, 202)
    assert [w["details"]["text"] for w in warnings_of(second.get_json())] == [warning["details"]["text"]]
    english = api.post(
        "/fhir/QuestionnaireResponse",
        json=api_qr("api-recent-3"),
        headers={**FHIR_JSON, "Prefer": "return=OperationOutcome", "Accept-Language": "en"},
    )
    texts = [w["details"]["text"] for w in warnings_of(english.get_json())]
    assert len(texts) == 1 and texts[0].startswith("Note: ") and "(through the HIS/the API)" in texts[0], texts
    # another patient: no warning
    other = api.post("/fhir/QuestionnaireResponse/$evaluate", json=api_qr("x", "demo-child-1y"), headers=FHIR_JSON)
    assert warnings_of(other.get_json()) == []


# ------------------------------------------------------------------ an HIS of the practice, and the form


def his_app(tmp_path, recipients_server, ehr_server):
    """The app whose API asks for tokens, with one HIS registered for the test practice (SMART Backend Services)."""
    key = RSAKey.generate_key(2048, parameters={"kid": "his-recent"})
    clients = tmp_path / "clients.yaml"
    clients.write_text(
        yaml.safe_dump(
            {
                "clients": [
                    {
                        "client_id": "his-practice",
                        "jwks": {"keys": [key.as_dict(private=False)]},
                        "practice": "demo-practice",
                        "scope": "system/QuestionnaireResponse.c system/QuestionnaireResponse.r",
                    }
                ]
            }
        )
    )
    app = make_app(
        tmp_path,
        recipients_server,
        ehr=ehr_server,
        api_auth="backend-services",
        api_clients_file=clients,
        public_url=PUBLIC_URL,
    )
    return app, key


def his_token(api, key) -> dict:
    """A bearer token for the HIS: a signed client assertion at /auth/token (SMART Backend Services)."""
    now = int(time.time())
    claims = {
        "iss": "his-practice",
        "sub": "his-practice",
        "aud": f"{PUBLIC_URL}/auth/token",
        "exp": now + 240,
        "jti": secrets.token_urlsafe(12),
    }
    assertion = jwt.encode({"alg": "RS384", "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=["RS384"])
    r = api.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "system/QuestionnaireResponse.c system/QuestionnaireResponse.r",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return {**FHIR_JSON, "Authorization": f"Bearer {r.get_json()['access_token']}"}


def test_a_form_send_after_an_api_submit_is_flagged_and_listed(tmp_path, recipients_server, ehr_server, as_user):
    app, key = his_app(tmp_path, recipients_server, ehr_server)
    api = app.test_client()
    headers = his_token(api, key)
    r = api.post("/fhir/QuestionnaireResponse/$submit", json=api_qr("his-recent-1"), headers=headers)
    assert r.status_code in (201, 202), r.get_data(as_text=True)[:400]
    # the GP opens the form for her: the HIS's referral is under "Eerder verwezen", marked as such ...
    gp = as_user("demo-pregnant", app=app)
    earlier = text_of(page(gp).split('class="earlier"')[1].split("</section>")[0])
    assert "(via het HIS/de API)" in earlier and JGZ_NAME in earlier, earlier
    # ... and the review flags it for the coordinator
    flag = flag_of(review_of(gp), JGZ)
    assert flag is not None and flag.endswith("al een verwijzing voor deze patiënt (via het HIS/de API)."), flag
    # the form sends anyway; the HIS is then warned of the form's referral, which named her by BSN as well
    token = csrf_of(page(gp, "/form/review"))
    assert post(gp, "/form/send", JGZ_CONSENT, token).status_code == 303
    again = api.post("/fhir/QuestionnaireResponse/$evaluate", json=api_qr("his-recent-2"), headers=headers)
    texts = [w["details"]["text"] for w in warnings_of(again.get_json())]
    assert len(texts) == 1 and texts[0].endswith("(via het formulier)."), texts  # the newest per recipient
    by_bsn = api_qr("his-recent-3")
    by_bsn["contained"] = [
        {
            "resourceType": "Patient",
            "id": "patient",
            "identifier": [{"system": urls.BSN, "value": "999990020"}],
        }
    ]
    by_bsn["subject"] = {"reference": "#patient"}
    texts = [
        w["details"]["text"]
        for w in warnings_of(api.post("/fhir/QuestionnaireResponse/$evaluate", json=by_bsn, headers=headers).get_json())
    ]
    assert len(texts) == 1 and texts[0].endswith("(via het formulier)."), texts


def test_an_open_api_never_sees_the_practices_referrals(as_user, web_app):
    """An open API (no practice known) has a scope of its own: the form's referrals are not shown to it."""
    send_from_form(as_user("demo-pregnant"), JGZ_CONSENT)
    api = web_app.test_client()
    r = api.post("/fhir/QuestionnaireResponse/$evaluate", json=api_qr("open-1"), headers=FHIR_JSON)
    assert r.status_code == 200 and warnings_of(r.get_json()) == []
    assert "Patient/demo-pregnant" not in json.dumps(
        rows(web_app.extensions["ks"].delivery.recent.db, "SELECT * FROM recent_referral")
    )
