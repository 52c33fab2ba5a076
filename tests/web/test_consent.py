"""Consent per recipient: the decisions of recipients without consent are dropped exactly as the engine drops them;
and consent asked once, at review, by who sends: never on the form, never from someone else's draft."""

from __future__ import annotations

import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from service.questionnaires.answers import index_answers
from service.web.consent import ConsentScopedEngine, restrict_to_consented, submitter_for
from tests.factories import make_qr
from tests.web.helpers import csrf_of, panel_data

TWO = dict(signals=("homeless",), consent=True)  # voorbeeldstad: centrum-jong and verloskundige, both need consent


def recipients_sent(evaluation):
    return sorted(d.recipient.id for d in evaluation.referrals)


def test_restrict_blocks_only_the_unconsented(engine):
    _, ev = engine.evaluate(make_qr(**TWO), "voorbeeldstad")
    assert recipients_sent(ev) == ["centrum-jong", "verloskundige"]
    only = restrict_to_consented(ev, frozenset({"verloskundige"}))
    assert recipients_sent(only) == ["verloskundige"]
    assert [d.blocked_by_consent for d in only.decisions if d.recipient.id == "centrum-jong"] == [True]
    assert only.consent_missing and only.level == ev.level and only.safety == ev.safety
    assert recipients_sent(restrict_to_consented(ev, frozenset({"centrum-jong", "verloskundige"}))) == recipients_sent(
        ev
    )


def test_internal_recipients_need_no_consent(engine):
    _, ev = engine.evaluate(make_qr(signals=("homeless", "substance-addiction"), consent=True))
    assert recipients_sent(restrict_to_consented(ev, frozenset())) == ["poh-jeugd"]


def test_extract_through_the_scoped_engine_has_no_referral_for_the_unconsented(engine):
    scoped = ConsentScopedEngine(engine, frozenset({"verloskundige"}))
    bundles = scoped.extract(make_qr(**TWO), "voorbeeldstad").bundles
    # the practice's record: the one consented referral and its Consent, nothing for centrum-jong
    record = [e["resource"] for e in bundles.record["entry"]]
    assert [r["code"]["coding"][0]["code"] for r in record if r["resourceType"] == "ServiceRequest"] == [
        "verloskundige"
    ]
    assert sum(r["resourceType"] == "Consent" for r in record) == 1
    # and a delivery to the midwives' destination only: centrum-jong's destination gets no Bundle at all
    assert [(d.destination, d.recipients) for d in bundles.deliveries] == [
        ("verloskundigen-voorbeeldstad", ("verloskundige",))
    ]
    sent = [e["resource"] for e in bundles.deliveries[0].bundle["entry"]]
    assert [r["code"]["coding"][0]["code"] for r in sent if r["resourceType"] == "ServiceRequest"] == ["verloskundige"]
    assert sum(r["resourceType"] == "Consent" for r in sent) == 1
    assert "centrum-jong" not in str(bundles.deliveries[0].bundle)


def test_the_apps_submitter_unless_some_were_left_out(web_app):
    submitter, engine = web_app.extensions["ks"].delivery.submitter, web_app.extensions["ks"].engine
    both = frozenset({"a", "b"})
    assert submitter_for(submitter, engine, both, both) is submitter
    assert submitter_for(submitter, engine, frozenset(), both) is submitter  # consent-given false: engine blocks all
    scoped = submitter_for(submitter, engine, frozenset({"a"}), both)
    assert scoped is not submitter and scoped.outbox is submitter.outbox and scoped.pusher is submitter.pusher
    assert isinstance(scoped.engine, ConsentScopedEngine)


def test_the_evaluated_engine_gives_what_the_engine_gives(engine):
    """A send hands the Submitter its own evaluation (EvaluatedEngine) instead of running the rules again: over
    every signal and phase combination here, region and consent choice, the Bundles are exactly the ones the
    engine makes, and a response that differs in what the rules read is evaluated afresh."""
    from service.web.consent import EvaluatedEngine
    from tests.factories import OTHER, URGENT, with_patient

    signal_sets = [
        (),
        ("homeless",),
        ("domestic-violence", "single-mother"),
        ("substance-addiction", "homeless"),
        (URGENT[0], OTHER[0], OTHER[1]),
        OTHER[:3],
    ]
    phases = [
        dict(),
        dict(phase="postpartum", due_date=None, child_birth_date="2026-05-01"),
        dict(phase="preconception", due_date=None, intention="no"),
    ]
    checked = 0
    for region in ("maastricht-heuvelland", "voorbeeldstad"):
        for signals in signal_sets:
            for phase in phases:
                for consent in (True, False):
                    built = make_qr(signals=signals, consent=consent, **phase)
                    _, evaluation = engine.evaluate(built, region)
                    asked = frozenset(
                        d.recipient.id for d in evaluation.decisions if d.recipient and d.recipient.needs_consent
                    )
                    for consented in (asked, frozenset(sorted(asked)[:1])):
                        sent = with_patient(built)  # what the send submits: the same answers, the patient contained
                        fresh = ConsentScopedEngine(engine, consented).extract(sent, region, structural=True)
                        reused = EvaluatedEngine(engine, consented, built, evaluation).extract(
                            sent, region, structural=True
                        )
                        assert reused.bundle == fresh.bundle, (region, signals, phase, consent, consented)
                        checked += 1
    assert checked > 100
    # A response whose answers differ is evaluated afresh, not answered with the stale evaluation.
    built, other = make_qr(signals=("homeless",)), make_qr(signals=())
    _, evaluation = engine.evaluate(built)
    stale = EvaluatedEngine(engine, frozenset({"regiocoordinator-jgz"}), built, evaluation).extract(other)
    assert stale.bundle == ConsentScopedEngine(engine, frozenset({"regiocoordinator-jgz"})).extract(other).bundle


# ------------------------------------------------------------------------------------------- consent asked once


def _page(client, path="/form"):
    r = client.get(path)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return r.get_data(as_text=True)


def _post(client, path, data, token):
    return client.post(path, data={**data, "csrf_token": token})


PREGNANT_HOMELESS = {"phase": "pregnant", "due-date": "2027-03-01", "homeless": "true"}  # the JGZ: needs consent
JGZ_BOX = 'name="consent-for-regiocoordinator-jgz" value="true"'


def test_the_form_asks_no_consent(as_user):
    """Consent is asked once, at review, per recipient: the form (with and without JavaScript) has no consent
    question, and the panel shows the recipients as consent would allow, not as "consent missing"."""
    client = as_user("demo-pregnant")
    html = _page(client)
    token = csrf_of(html)
    assert 'name="consent-given"' not in html and 'name="consent-method"' not in html
    assert 'id="item-consent"' not in html and "Wijze van toestemming" not in html
    _post(client, "/form/update", PREGNANT_HOMELESS, token)  # without JavaScript: the panel from the server
    html = _page(client)
    assert 'name="consent-given"' not in html and "Regiocoördinator Jeugdgezondheidszorg" in html
    assert "toestemming ontbreekt" not in html
    live = _post(client, "/form/panel", PREGNANT_HOMELESS, token).get_json()["html"]
    assert 'data-recipient="regiocoordinator-jgz"' in live and 'class="blocked"' not in live
    [jgz] = panel_data(client, PREGNANT_HOMELESS)["recipients"]
    assert jgz["id"] == "regiocoordinator-jgz" and jgz["needsConsent"] and not jgz["blocked"]


def _old_draft_with_consent(app, iss: str, patient: str) -> None:
    """A draft as an earlier version stored it: the assistant's consent tick and "Mondeling" in it, in the
    form's fields and as the review's choices."""
    from service.web.store import WorkState

    draft = WorkState(
        fields={
            **{k: [v] for k, v in PREGNANT_HOMELESS.items()},
            "consent-given": ["true"],
            "consent-method": ["verbal"],
        },
        consent={"regiocoordinator-jgz": True},
        consent_method="verbal",
        draft_saved_at=time.time(),
        draft_by="PractitionerRole/demo-assistant",
    )
    app.extensions["ks"].forms.save_draft(iss, patient, draft)


def test_an_assistants_draft_with_consent_gives_the_gp_no_consent(as_user, web_app):
    """The assistant's consent tick and method never reach the GP's send: her new draft does not store them, an
    old draft that has them loses them when opened; the GP's review has nothing ticked and no method chosen, a
    tick without a method is asked again, and what goes carries the GP's own choice."""
    forms = web_app.extensions["ks"].forms
    assistant = as_user("demo-pregnant", user="demo-assistant")
    token = csrf_of(_page(assistant))
    posted = {"_form": "main", **PREGNANT_HOMELESS, "consent-given": "true", "consent-method": "verbal"}
    assert _post(assistant, "/form/draft", posted, token).status_code == 303
    stored = forms.draft(assistant.ctx.iss, "demo-pregnant")
    assert stored.fields["homeless"] == ["true"] and "consent-given" not in stored.fields
    assert "consent-method" not in stored.fields and stored.consent is None and stored.consent_method is None

    _old_draft_with_consent(web_app, assistant.ctx.iss, "demo-pregnant")
    gp = as_user("demo-pregnant", user="demo-gp")
    html = _page(gp)
    assert 'name="homeless" value="true" checked' in html  # the draft is there ...
    work = forms.work(gp.ctx.session_id)
    assert work.consent is None and work.consent_method is None  # ... without anyone's consent
    assert "consent-given" not in work.fields and "consent-method" not in work.fields
    token = csrf_of(html)
    assert _post(gp, "/form/review", dict(PREGNANT_HOMELESS), token).headers["Location"] == "/form/review"
    review = _page(gp, "/form/review")
    assert f"{JGZ_BOX} aria-describedby" in review and f"{JGZ_BOX} checked" not in review
    assert (
        'id="item-consent-method"' in review and re.search(r'name="consent-method" value="\w+" checked', review) is None
    )
    assert re.search(r'data-no="[^"]*">\s*Wordt NIET verstuurd: geen toestemming.', review)  # as it reads
    r = _post(gp, "/form/send", {"consent-for-regiocoordinator-jgz": "true"}, token)  # the draft's "Mondeling": gone
    assert r.status_code == 422 and "Kies hoe de toestemming is gegeven" in r.get_data(as_text=True)
    r = _post(gp, "/form/send", {"consent-for-regiocoordinator-jgz": "true", "consent-method": "written"}, token)
    assert r.status_code == 303 and r.headers["Location"] == "/form/sent"
    result = forms.work(gp.ctx.session_id).result
    [item] = web_app.extensions["ks"].delivery.outbox.for_submission(result["submission"])
    [sr] = [e["resource"] for e in item.bundle["entry"] if e["resource"]["resourceType"] == "ServiceRequest"]
    answers = index_answers(next(c for c in sr["contained"] if c["resourceType"] == "QuestionnaireResponse"))
    assert answers.is_true("consent-given") and answers.code("consent-method") == "written"


def test_consent_ticked_at_review_is_not_saved_into_a_draft(as_user, web_app):
    """The GP ticks consent at review and saves a draft from there: the draft has the form, not the ticks."""
    gp = as_user("demo-pregnant")
    token = csrf_of(_page(gp))
    _post(gp, "/form/review", dict(PREGNANT_HOMELESS), token)
    consent = {"consent-for-regiocoordinator-jgz": "true", "consent-method": "verbal"}
    assert _post(gp, "/form/consent", consent, token).status_code == 303
    assert f"{JGZ_BOX} checked" in _page(gp, "/form/review")  # her own ticks stand for her own send
    assert _post(gp, "/form/draft", consent, token).headers["Location"] == "/form"  # the review's button
    stored = web_app.extensions["ks"].forms.draft(gp.ctx.iss, "demo-pregnant")
    assert stored.fields["homeless"] == ["true"]
    assert stored.consent is None and stored.consent_method is None and "consent-given" not in stored.fields


def test_the_draft_notice_names_who_saved_it_and_when(as_user, web_app):
    """Whoever opens the draft reads who saved it (the name the launch read from the EHR, else the role; never a
    FHIR reference) and when, in the practice's time zone, as dd-mm-jjjj and hh:mm."""
    forms, sessions = web_app.extensions["ks"].forms, web_app.extensions["ks"].sessions
    assistant = as_user("demo-pregnant", user="demo-assistant")
    sessions.update(assistant.ctx, user_name="Fatima Willems")  # as the launch read it from the EHR
    token = csrf_of(_page(assistant))
    before = time.time()
    _post(assistant, "/form/draft", {"_form": "main", **PREGNANT_HOMELESS}, token)
    saved_at = forms.draft(assistant.ctx.iss, "demo-pregnant").draft_saved_at
    assert before - 1 <= saved_at <= time.time() + 1
    saved = datetime.fromtimestamp(saved_at, ZoneInfo("Europe/Amsterdam"))
    html = _page(as_user("demo-pregnant", user="demo-gp"))
    notice = re.search(r'<p class="notice" role="status">([^<]*)</p>', html)
    assert notice and notice.group(1) == f"Concept opgeslagen door Fatima Willems op {saved:%d-%m-%Y} om {saved:%H:%M}."
    assert "PractitionerRole" not in notice.group(1)
    # without a name: the role, in the page's language
    unnamed = as_user("demo-pregnant", user="demo-assistant")
    _post(unnamed, "/form/draft", {"_form": "main", **PREGNANT_HOMELESS}, csrf_of(_page(unnamed)))
    saved = datetime.fromtimestamp(
        forms.draft(unnamed.ctx.iss, "demo-pregnant").draft_saved_at, ZoneInfo("Europe/Amsterdam")
    )
    html = _page(as_user("demo-pregnant", user="demo-gp", language="en"))
    assert f"Draft saved by the doctor&#39;s assistant on {saved:%d-%m-%Y} at {saved:%H:%M}." in html


def test_the_assistants_review_asks_no_consent_and_says_what_the_gp_can_send(as_user, web_app):
    """The doktersassistent cannot send: her review has no consent boxes and no method, never "Wordt verstuurd",
    and says per recipient what the GP or POH Jeugd can send with the patient's consent, with what it gets."""
    assistant = as_user("demo-pregnant", user="demo-assistant")
    token = csrf_of(_page(assistant))
    _post(assistant, "/form/review", {**PREGNANT_HOMELESS, "substance-addiction": "true"}, token)
    review = _page(assistant, "/form/review")
    assert "consent-for-" not in review and 'name="consent-method"' not in review
    assert "Wordt verstuurd." not in review and "Wordt NIET verstuurd" not in review
    assert "Toestemming vastleggen en overzicht bijwerken" not in review
    jgz = review.split('data-recipient="regiocoordinator-jgz"')[1].split("</article>")[0]
    assert (
        '<p class="send-state" id="consent-state-regiocoordinator-jgz">'
        "De huisarts of POH Jeugd kan dit versturen, met toestemming van de patiënt.</p>"
    ) in jgz
    assert '<div class="gets" data-gets="regiocoordinator-jgz">' in jgz and "gets-nothing" not in jgz  # what goes
    poh = review.split('data-recipient="poh-jeugd"')[1].split("</article>")[0]
    assert "Interne verwijzing binnen de praktijk" in poh and "kan dit versturen" not in poh
    assert 'id="nothing-external" hidden' in review  # the GP can send to the JGZ: not "nothing leaves"
    # a consent post of hers records nothing
    _post(assistant, "/form/consent", {"consent-for-regiocoordinator-jgz": "true", "consent-method": "verbal"}, token)
    assert web_app.extensions["ks"].forms.work(assistant.ctx.session_id).consent is None


def test_nobody_to_ask_means_consent_not_given(engine):
    """Internal referrals only: nobody is asked, and the response's consent-given is not given, whatever a
    stale tick or the fields say (the engine needs no consent for the practice's own referrals)."""
    from service.web.send import _consent_answer
    from service.web.store import WorkState

    _, evaluation = engine.evaluate(make_qr(phase="preconception", due_date=None, intention="yes"))
    assert [d.recipient.internal for d in evaluation.referrals] == [True]
    stale = WorkState(
        fields={"consent-given": ["true"], "consent-method": ["verbal"]},
        consent={"regiocoordinator-jgz": True},
        consent_method="verbal",
    )
    answer = _consent_answer(stale, evaluation)
    assert answer.asked == frozenset() and answer.consented == frozenset()
    assert answer.given is False and answer.method is None
    _, two = engine.evaluate(make_qr(signals=("homeless", "substance-addiction")))
    ticked = _consent_answer(WorkState(consent={"regiocoordinator-jgz": True}, consent_method="written"), two)
    assert ticked.asked == {"regiocoordinator-jgz"} and ticked.given and ticked.method == "written"
