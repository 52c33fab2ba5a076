"""Consent per recipient: the decisions of recipients without consent are dropped exactly as the engine drops them."""

from __future__ import annotations

from service.web.consent import ConsentScopedEngine, restrict_to_consented, submitter_for
from tests.factories import make_qr

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
