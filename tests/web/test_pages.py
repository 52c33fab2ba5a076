"""The form pages with the Flask test client: what they show, the no-JS flow end to end, the panel, consent
per recipient, the assistant's draft, CSRF, headers — against real FHIR servers (EHR and recipients)."""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from service.demo import PRACTICE_AGB, PRACTICE_NAME
from service.fhir import urls
from service.questionnaires.answers import index_answers
from service.referrals import feedback
from tests.factories import OTHER, URGENT
from tests.web.conftest import make_app
from tests.web.helpers import csrf_of, panel_data


def page(client, path="/form"):
    r = client.get(path)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return r.get_data(as_text=True)


def post(client, path, data=None, token=None, **kw):
    data = dict(data or {})
    data.setdefault("csrf_token", token if token is not None else csrf_of(page(client, "/form")))
    return client.post(path, data=data, **kw)


PREGNANT = {"phase": "pregnant", "due-date": "2027-03-01"}


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def article(review: str, recipient: str) -> str:
    """The text of one recipient's part of the review."""
    return text_of(review.split(f'data-recipient="{recipient}"')[1].split("</article>", maxsplit=1)[0])


# ------------------------------------------------------------------------------------------- the form


def test_form_renders_every_item_from_the_questionnaire(as_user, engine):
    client = as_user("demo-pregnant")
    r = client.get("/form")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    qdef = engine.catalog.find(engine.ruleset().questionnaire)
    for link_id in URGENT + OTHER:
        label = re.search(rf'<label for="f-{link_id}">([^<]+)</label>', html)
        assert label and label.group(1) == qdef.items[link_id].text
        assert f'<input type="checkbox" id="f-{link_id}" name="{link_id}" value="true"' in html
    assert len(re.findall(r'<input type="checkbox" id="f-(?:' + "|".join(URGENT + OTHER) + ')"', html)) == 21
    for group in ("context", "urgent-signals", "other-signals", "safety", "assessment"):
        assert re.search(
            rf'<fieldset class="group[^"]*" id="item-{group}"[^>]*>\s*<legend><h2 class="group-title">{re.escape(qdef.items[group].text)}</h2></legend>',
            html,
        )
    assert qdef.items["opening-sentence"].text in html
    assert 'type="radio" id="f-phase-pregnant" name="phase" value="pregnant" checked' in html  # $populate
    # the date as dd-mm-jjjj whatever the browser's locale: a text field, not type=date; $populate's date shown so
    due_field = re.search(r'<input type="text" class="input-date" inputmode="numeric" autocomplete="off"[^>]*>', html)
    assert due_field
    due = due_field.group(0)
    assert re.search(r'name="due-date" value="\d\d-\d\d-\d{4}"', due) and 'placeholder="dd-mm-jjjj"' in due
    assert 'aria-describedby="hint-due-date fmt-due-date"' in due
    assert '<p class="hint" id="fmt-due-date">Dag-maand-jaar (dd-mm-jjjj), bijvoorbeeld 01-03-2027.</p>' in html
    assert 'type="date"' not in html
    # the required mark on every required question: "Fase" under the heading "Fase" too
    mark = '<span class="required">(verplicht)</span>'
    assert f'<legend class="item-label"><span class="visually-hidden">Fase</span> {mark}</legend>' in html
    assert re.search(rf'<label class="item-label" for="f-due-date">[^<]+ {re.escape(mark)}</label>', html)
    assert (
        'id="f-children-in-household"' in html and 'id="f-level-override"' in html and 'id="f-override-reason"' in html
    )
    # consent is not asked on the form: at review, per recipient, by who sends
    assert "consent" in qdef.items and "consent-given" in qdef.items  # the Questionnaire keeps its items
    assert 'id="item-consent"' not in html and 'name="consent-given"' not in html
    assert 'name="consent-method"' not in html
    assert qdef.items["consent-given"].text not in html and "Wijze van toestemming" not in html
    assert re.search(r'<textarea id="f-note" name="note" rows="3" maxlength="1000"', html)
    # enableWhen items say when to fill them in (the form works without JavaScript)
    # short: "Alleen bij …", one general sentence when more than two answers open an item
    assert '<p class="hint" id="hint-due-date">Alleen bij fase ‘Zwanger’.</p>' in html
    assert (
        '<p class="hint" id="hint-safety">Vul in als een van de bijbehorende signalen hierboven is aangevinkt.</p>'
        in html
    )
    assert "Alleen als ‘De patiënt geeft toestemming" not in html  # consent is asked at review, not on the form
    assert "Alleen invullen als" not in html and "is aangevinkt of" not in html
    # the suggestion, not an answer
    assert 'id="sug-teenage-pregnancy"' in html and "suggestie" in html
    assert 'id="f-teenage-pregnancy" name="teenage-pregnancy" value="true" checked' not in html
    # patient banner from the EHR's Patient (need_patient_banner, no banner in the launch)
    assert "Lisa de Boer" in html
    # the live panel, server-rendered, with aria-live
    assert re.search(r'<aside id="panel" class="panel" aria-live="polite"', html)


def test_child_record_is_prefilled_postpartum(as_user):
    html = page(as_user("demo-child-1y"))
    assert 'id="f-phase-postpartum" name="phase" value="postpartum" checked' in html
    assert re.search(r'id="f-child-birth-date" name="child-birth-date" value="\d\d-\d\d-\d{4}"', html)


def test_the_opening_sentence_fits_a_woman_who_does_not_want_to_become_pregnant(as_user):
    """No wish to become pregnant: the opening sentence offers the conversation without "je kindje"; otherwise the
    seed's sentence. Without JavaScript the server shows the one that fits; app.js switches them live."""
    client = as_user("demo-preconception")
    standard = "zodat jij je kindje de beste start kunt geven"
    no_wish = (
        "Ik verwijs je graag door voor een gesprek bij iemand die tijd voor jou heeft en met je meekijkt waar je hulp"
        " bij nodig hebt, ook bij het voorkomen van een zwangerschap die je nu niet wilt."
    )
    html = page(client)
    assert re.search(r'<section class="opening" id="item-opening-sentence" data-enable="[^"]*" aria', html)
    assert re.search(r'<section class="opening" id="item-opening-sentence-no-wish" data-enable="[^"]*" hidden', html)
    no = {"phase": "preconception", "pregnancy-intention": "LA26440-0"}
    r = post(client, "/form/language", {"lang": "nl", "_form": "main", **no})
    assert r.status_code == 303
    html = page(client)
    assert re.search(r'id="item-opening-sentence" data-enable="[^"]*" hidden', html) and standard in html
    shown = html.split('id="item-opening-sentence-no-wish"')[1].split("</section>")[0]
    assert " hidden" not in shown.split(">")[0] and no_wish in shown and "kindje" not in shown
    assert 'id="hint-opening-sentence' not in html  # a sentence to read is not "filled in"
    post(client, "/form/language", {"lang": "en", "_form": "main", **no})
    english = page(client).split('id="item-opening-sentence-no-wish"')[1].split("</section>")[0]
    assert "including with preventing a pregnancy you do not want now." in english and "baby" not in english
    # the intention counts only in the preconception phase
    post(client, "/form/language", {"lang": "nl", "_form": "main", **no, "phase": "pregnant"})
    html = page(client)
    assert re.search(r'id="item-opening-sentence-no-wish" data-enable="[^"]*" hidden', html)
    # before a pregnancy "je kindje" only for a wish to become pregnant: not for "it doesn't matter" or no answer,
    # where the rules offer Nu Niet Zwanger too (DOMAIN.md A2.4)
    standard_id, no_wish_id = "item-opening-sentence", "item-opening-sentence-no-wish"
    for intention, shown, hidden in (
        ("LA26439-2", no_wish_id, standard_id),
        (None, no_wish_id, standard_id),
        ("LA26438-4", standard_id, no_wish_id),
    ):
        fields = {"phase": "preconception", **({"pregnancy-intention": intention} if intention else {})}
        post(client, "/form/language", {"lang": "nl", "_form": "main", **fields})
        html = page(client)
        assert not re.search(rf'id="{shown}" data-enable="[^"]*" hidden', html), intention
        assert re.search(rf'id="{hidden}" data-enable="[^"]*" hidden', html), intention


def test_english(as_user):
    client = as_user("demo-pregnant")
    r = post(client, "/form/language", {"lang": "en", "_form": "main", "homeless": "true", **PREGNANT})
    assert r.status_code == 303 and r.headers["Location"] == "/form"
    html = page(client)
    assert '<html lang="en">' in html and '<label for="f-homeless">Homeless</label>' in html
    assert "Urgent vulnerabilities" in html and "What the rules suggest" in html
    assert (
        "Only for phase &#39;Pregnant&#39;." in html
        and "Fill in if one of the related signals above is ticked." in html
    )
    assert 'id="f-homeless" name="homeless" value="true" checked' in html  # kept across the switch
    assert client.application.extensions["ks"].sessions.load(client.ctx.session_id).language == "en"
    panel = post(client, "/form/panel", {**PREGNANT, "homeless": "true"}).get_json()
    assert panel_data(client, {**PREGNANT, "homeless": "true"})["level"]["text"] == "urgently vulnerable"
    assert 'data-level="urgent">urgently vulnerable<' in panel["html"] and "priority urgent" in panel["html"]


def test_without_a_launch_the_pages_ask_to_open_again(client):
    for path in ("/form", "/form/review", "/form/sent"):
        r = client.get(path)
        assert r.status_code == 401 and "Open Kansrijke Start opnieuw vanuit het EPD" in r.get_data(as_text=True)
    assert client.post("/form/panel", data={}).status_code == 401


def test_ehr_that_cannot_be_read_still_gives_a_form(as_user):
    html = page(as_user("demo-pregnant", iss="http://127.0.0.1:9/fhir"))
    assert "Het EPD was niet bereikbaar." in html and 'name="phase" value="pregnant" checked' not in html


# ------------------------------------------------------------------------------------------- the panel


def test_panel_json_level_recipients_rules_reasons(as_user):
    client = as_user("demo-pregnant")
    fields = {**PREGNANT, "financial-problems": "true", "language-barrier": "true"}
    r = post(client, "/form/panel", fields)
    assert r.status_code == 200 and r.is_json and r.headers["Cache-Control"] == "no-store"
    # the answer: the panel's HTML and what app.js uses besides (the suggestions, the step indicator; app.js draws
    # the narrow screens' bar from the HTML), and a new panel token (no token was sent: the full guard answered)
    assert set(r.get_json()) == {"html", "panel", "token"} and set(r.get_json()["panel"]) == {"suggestions", "meldcode"}
    data = panel_data(client, fields)
    assert r.get_json()["panel"] == {
        "suggestions": [{"link_id": s["link_id"], "text": s["text"]} for s in data["suggestions"]],
        "meldcode": False,
    }
    assert data["level"]["code"] == "vulnerable" and data["level"]["because"] == [
        "Financiële problematiek",
        "Taalbarrière",
    ]
    [jgz] = data["recipients"]
    # the form asks no consent (the review does): the panel shows the recipient as consent would allow
    assert jgz["id"] == "regiocoordinator-jgz" and jgz["priority"] == "routine" and jgz["blocked"] is False
    assert jgz["rules"][0]["id"] == "jgz-pregnant-or-young-child"
    assert "Financiële problematiek" in jgz["rules"][0]["reasons"] and jgz["rules"][0]["description"].startswith(
        "Zwanger"
    )
    assert data["safety"] == [] and data["meldcode"] is False
    html = r.get_json()["html"]
    assert 'data-level="vulnerable"' in html and 'data-recipient="regiocoordinator-jgz"' in html
    assert "prioriteit regulier" in html and "Op grond van: " in html and "Financiële problematiek" in html


def test_panel_says_also_the_poh_jeugd_only_next_to_another_recipient(as_user):
    """Complex problems: "ook de POH Jeugd" next to the JGZ coordinator; without "ook" when the POH is the only one
    (after birth with a child of 4 or older: outside Kansrijke Start)."""
    complex_case = {"homeless": "true", "substance-addiction": "true"}
    client = as_user("demo-pregnant")
    with_jgz = panel_data(client, {**PREGNANT, **complex_case})["recipients"]
    assert [r["id"] for r in with_jgz] == ["regiocoordinator-jgz", "poh-jeugd"]
    assert "ook de POH Jeugd" in with_jgz[1]["rules"][0]["description"]
    older = {"phase": "postpartum", "child-birth-date": "2019-05-01", **complex_case}
    body = post(client, "/form/panel", older).get_json()
    [poh] = panel_data(client, older)["recipients"]
    assert poh["id"] == "poh-jeugd" and poh["rules"][0]["description"] == (
        "Complexe problematiek (2 of meer urgente kwetsbaarheden, of 1 urgente en 2 of meer andere): de POH Jeugd,"
        " vanwege de korte lijnen."
    )
    assert "ook de POH Jeugd" not in body["html"]
    assert post(client, "/form/language", {"lang": "en", "_form": "main", **older}).status_code == 303
    [poh_en] = panel_data(client, older)["recipients"]
    assert poh_en["rules"][0]["description"] == (
        "Complex problems (2+ urgent signals, or 1 urgent and 2+ other): the POH Jeugd, for the short lines."
    )


def test_panel_level_and_recipients_first_then_the_meldcode_strip(as_user):
    client = as_user("demo-pregnant")
    fields = {**PREGNANT, "domestic-violence": "true", "veilig-thuis-involvement": "true"}
    body = post(client, "/form/panel", fields).get_json()
    data = panel_data(client, fields)
    assert [s["panel"] for s in data["safety"]] == ["meldcode", "history"]
    assert data["recipients"][0]["priority"] == "urgent" and body["panel"]["meldcode"] is True
    html = body["html"]
    # what the GP acts on first; the Meldcode a compact strip after it, the history note after that
    assert (
        html.index('id="level-title"')
        < html.index('id="recipients-title"')
        < html.index('class="safety meldcode meldcode-strip"')
        < html.index('class="safety history"')
    )
    strip = html.split('<details class="safety meldcode meldcode-strip">')[1].split("</details>")[0]
    summary = text_of(strip.split("<summary>")[1].split("</summary>")[0]).strip()
    assert summary == "Huiselijk geweld: volg de meldcode — bij acuut gevaar 112, Veilig Thuis 0800-2000"
    for needed in ("Bel 112", "Veilig Thuis 0800-2000", "Deze dienst stuurt nooit iets naar Veilig Thuis"):
        assert needed in strip
    assert "‘Controleren en verder’" in strip  # where the five steps are
    assert 'class="steps"' not in html and "De vijf stappen van de KNMG-meldcode" not in html  # not in the panel
    assert "aandachtsfunctionaris" in strip and "KS_AANDACHTSFUNCTIONARIS" in strip  # not configured: says how


def page_bar(html: str) -> str:
    return html.split('<div id="panel-bar" class="panel-bar"', 1)[1].split(">", 1)[1].split("</div>\n    <aside", 1)[0]


def test_panel_summary_bar_level_and_recipient_names(as_user):
    """The narrow screens' bar: rendered on the form (works without JavaScript; app.js draws it again from the live
    panel's HTML with the words the bar's element carries: tests/browser/test_advice_in_sight.py)."""
    client = as_user("demo-pregnant")
    form_html = page(client)
    bar = page_bar(form_html)
    assert 'href="#panel"' in bar and "geen kwetsbaarheid" in text_of(bar)
    for attribute, words in (
        ("data-to", "Verwijzen naar:"),
        ("data-none", "Geen verwijzing voorgesteld."),
        ("data-open", "Bekijk"),
    ):
        assert re.search(rf'{attribute}="{words}[^"]*"', form_html), attribute
    complex_case = {"domestic-violence": "true", "financial-problems": "true", "language-barrier": "true"}
    data = panel_data(client, {**PREGNANT, **complex_case})
    names = [r["name"] for r in data["recipients"]]
    assert len(names) == 2
    assert post(client, "/form/update", {**PREGNANT, **complex_case}).status_code == 303
    bar = page_bar(page(client))
    assert re.findall(r'<span class="bar-recipient">([^<]+)</span>', bar) == names
    assert data["level"]["text"] in re.search(r'class="bar-level-value">([^<]+)<', bar)[1]
    assert "Meldcode" in text_of(bar) and 'class="bar-meldcode"' in bar
    assert post(client, "/form/update", PREGNANT).status_code == 303
    none = page_bar(page(client))
    assert 'class="bar-recipient"' not in none and "Geen verwijzing voorgesteld." in text_of(none)


def test_live_panel_is_the_form_pages_panel(as_user, tmp_path, recipients_server, ehr_server):
    """POST /form/panel renders the panel and its bar without the pages' context processors (common.py
    render_fragments): the very HTML the form page shows for the same fields (no JavaScript: keep, then the
    form), in both languages, with the Meldcode strip and the practice's aandachtsfunctionaris."""
    app = make_app(tmp_path, recipients_server, ehr=ehr_server, aandachtsfunctionaris="Dr. B. de Wit, toestel 214")
    fields = {**PREGNANT, "domestic-violence": "true", "financial-problems": "true", "language-barrier": "true"}
    for lang in ("nl", "en"):
        client = as_user("demo-pregnant", app=app, language=lang)
        live = post(client, "/form/panel", fields).get_json()
        assert "Dr. B. de Wit, toestel 214" in live["html"]
        assert post(client, "/form/update", fields).status_code == 303
        html = page(client)
        panel = html.split('tabindex="0">\n      ', 1)[1].split("\n    </aside>", 1)[0]
        assert live["html"] == panel, lang
        assert 'class="bar-recipient"' in page_bar(html), lang


def test_panel_fragments_use_only_what_render_fragments_gives():
    """The fragments rendered on their own for the live panel read nothing of a page's context but what
    render_fragments puts there: a name only the pages' context processors give would be empty there, silently."""
    from jinja2 import meta, nodes

    from service.web.common import FRAGMENT_HELPERS

    env = make_env()
    for name in ("_panel.html", "_panel_bar.html"):
        tree = env.parse(env.loader.get_source(env, name)[0])
        own = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "store"}  # its {% set %}s (one branch's too)
        assert meta.find_undeclared_variables(tree) - own <= {"panel", *FRAGMENT_HELPERS}, name


def make_env():
    from flask import Flask

    return Flask("service", root_path=str(Path(__file__).resolve().parents[2] / "service")).jinja_env


def test_meldcode_names_the_practice_aandachtsfunctionaris(as_user, tmp_path, recipients_server, ehr_server):
    from tests.web.conftest import make_app

    app = make_app(tmp_path, recipients_server, ehr=ehr_server, aandachtsfunctionaris="Dr. B. de Wit, toestel 214")
    client = as_user("demo-pregnant", app=app)
    html = post(client, "/form/panel", {**PREGNANT, "domestic-violence": "true"}).get_json()["html"]
    assert "Aandachtsfunctionaris in uw praktijk: <strong>Dr. B. de Wit, toestel 214</strong>" in html


def test_panel_lighter_prompt_for_history_only(as_user):
    client = as_user()
    body = post(client, "/form/panel", {**PREGNANT, "child-protection-board-history": "true"}).get_json()
    assert [
        s["panel"] for s in panel_data(client, {**PREGNANT, "child-protection-board-history": "true"})["safety"]
    ] == ["history"]
    assert body["panel"]["meldcode"] is False and "meldcode-strip" not in body["html"]
    assert "ga na of het nu veilig is en overweeg de Meldcode" in body["html"]


def test_panel_reports_unreadable_fields_and_keeps_going(as_user):
    client, fields = as_user(), {"phase": "pregnant", "due-date": "31-02-2027", "homeless": "true"}
    html = post(client, "/form/panel", fields).get_json()["html"]
    data = panel_data(client, fields)
    assert data["level"]["code"] == "urgent" and 'data-level="urgent"' in html
    assert "Geen bestaande datum" in data["errors"][0]["text"]
    assert 'class="panel-errors"' in html and "Geen bestaande datum" in html.split('class="panel-errors"')[1]


def test_panel_says_an_impossible_date_at_once(as_user):
    """A due date in 1900 or 9999, a child born tomorrow: the panel says what the review would refuse, beside the
    advice that date gives (before, only the review did)."""
    client = as_user()
    for fields, words in (
        ({"phase": "pregnant", "due-date": "01-01-1900", "homeless": "true"}, "meer dan 2 weken in het verleden"),
        ({"phase": "pregnant", "due-date": "31-12-9999"}, "meer dan 44 weken in de toekomst"),
    ):
        html = post(client, "/form/panel", fields).get_json()["html"]
        assert words in html.split('class="panel-errors"')[1], fields


def test_panel_teenage_suggestion_follows_the_due_date(as_user):
    client = as_user("demo-pregnant")
    page(client)  # populate: the mother's birth date is known server-side
    far = post(client, "/form/panel", {"phase": "pregnant", "due-date": "2099-01-01"}).get_json()["panel"]
    near = post(client, "/form/panel", PREGNANT).get_json()["panel"]
    assert near["suggestions"][0]["link_id"] == "teenage-pregnancy"
    assert "op de uitgerekende datum" in near["suggestions"][0]["text"]
    # an implausible due date (the form warns about it) says nothing about her age then: her age now
    [teen] = far["suggestions"]
    assert teen["link_id"] == "teenage-pregnancy" and "De patiënte is nu " in teen["text"]
    past = post(client, "/form/panel", {"phase": "pregnant", "due-date": "2019-05-01"}).get_json()["panel"]
    assert "10 jaar" not in str(past["suggestions"]) and "op de uitgerekende datum" not in str(past["suggestions"])


# ------------------------------------------------------------------------------------------- flow without JS


def test_no_js_flow_end_to_end(as_user, recipients, ehr, web_app):
    client = as_user("demo-pregnant")
    token = csrf_of(page(client))
    # 1. mistakes: every one, in Dutch, next to its field and in a summary linking to it
    r = post(
        client,
        "/form/review",
        {"phase": "pregnant", "domestic-violence": "true", "children-in-household": "veel", "level-override": "urgent"},
        token,
    )
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'class="error-summary"' in html and 'role="alert"' in html
    for href, text in (
        ("#f-due-date", "Vul ‘Uitgerekende datum (à terme datum)’ in."),
        ("#f-children-in-household", "vul een heel getal in"),
        ("#f-override-reason", "Vul ‘Reden voor het aangepaste niveau’ in."),
    ):
        assert re.search(rf'<a href="{href}">[^<]*{re.escape(text)}', html)
    assert re.search(r'<p class="field-error" id="err-due-date">.*Vul ‘Uitgerekende datum', html)
    assert 'aria-describedby="hint-due-date fmt-due-date err-due-date"' in html and 'aria-invalid="true"' in html
    assert 'name="domestic-violence" value="true" checked' in html  # what was filled in stays
    # 2. fixed: Meldcode first
    fields = {
        **PREGNANT,
        "domestic-violence": "true",
        "financial-problems": "true",
        "language-barrier": "true",
        "children-in-household": "2",
        "note": "Wil graag hulp bij geldzaken.",
    }
    r = post(client, "/form/review", fields, token)
    assert r.status_code == 303 and r.headers["Location"] == "/form/meldcode"
    assert client.get("/form/review").headers["Location"] == "/form/meldcode"  # review cannot skip it
    meld = page(client, "/form/meldcode")
    assert "Acuut gevaar? Bel 112." in meld and "Veilig Thuis 0800-2000" in meld
    assert len(re.findall(r'name="meldcode-step"', meld)) == 5
    # the kindcheck answered on the form is a fact here, not asked twice
    assert 'id="f-children-in-household"' not in meld
    assert re.search(r'id="children-fact">.*?<strong>2</strong>', meld, re.S)
    assert 'name="meldcode-informed"' in meld and 'id="meldcode-not-informed-reason"' in meld
    r = post(
        client,
        "/form/meldcode",
        {
            "meldcode-step": ["signalen", "advies"],
            "children-in-household": "2",
            "meldcode-informed": "no",
            "meldcode-not-informed-reason": "Niet veilig: partner aanwezig.",
            "meldcode-facts": "Blauwe plek op arm gezien.",
        },
        token,
    )
    assert r.status_code == 303 and r.headers["Location"] == "/form/review"
    # 3. review: consent asked here, per recipient, nothing ticked beforehand; recorded without JavaScript
    review = page(client, "/form/review")
    assert 'name="consent-for-regiocoordinator-jgz" value="true" aria-describedby' in review  # not ticked
    # not informed (not safe): whoever receives it may phone her, so the review says so before the send
    assert "U gaf aan dat de patiënt niet is geïnformeerd over uw zorgen." in review
    assert '<p class="nothing-external" id="nothing-external"><strong>' in review
    assert 'id="item-consent-method"' in review and 'name="consent-method" value="written" checked' not in review
    r = post(client, "/form/consent", {"consent-for-regiocoordinator-jgz": "true", "consent-method": "written"}, token)
    assert r.status_code == 303 and r.headers["Location"] == "/form/review#consent"
    # exactly what goes where, and what does not
    review = page(client, "/form/review")
    assert 'name="consent-method" value="written" checked' in review
    text = text_of(review)
    assert (
        "Regiocoördinator Jeugdgezondheidszorg Maastricht-Heuvelland (GGD)" in text
        and "POH Jeugd (eigen praktijk)" in text
    )
    assert "GGD Zuid Limburg — Jeugdgezondheidszorg Maastricht-Heuvelland" in text
    jgz, poh = article(review, "regiocoordinator-jgz"), article(review, "poh-jeugd")
    # without KS_DESTINATIONS the destination's name is the one the mappings give it
    assert "Gaat naar GGD Zuid Limburg" in jgz
    for part in (
        "naam, BSN, geslacht, geboortedatum, adres, telefoon en e-mail",
        "voorkeurstaal",
        "fase en datum: Zwanger, uitgerekende datum 01-03-2027",
        "de aangevinkte signalen: Huiselijk geweld; Financiële problematiek; Taalbarrière",
        "het niveau: urgent kwetsbaar",
        "de hulpvraag: ‘Wil graag hulp bij geldzaken.’",
        "de vastgelegde toestemming",
    ):
        assert part in jgz, part
    assert "Krijgt niet:" not in jgz  # the default: the whole DOMAIN.md §3.1 set
    assert "Gaat naar blijft in de praktijk (EPD)" in poh and "Er gaat niets buiten de praktijk" in poh
    assert "wordt vastgelegd in het EPD, niet verstuurd" in poh
    never = text_of(review.split('id="never-leaves"')[1].split("</div>")[0])
    for part in (
        "de volledige vragenlijst",
        "de kindcheck",
        "uw eigen oordeel over het niveau en de reden daarvoor",
        "de aantekeningen bij de meldcode",
    ):
        assert part in never, part
    assert 'id="nothing-external" hidden' in review  # consent ticked: something does leave
    assert "regel jgz-pregnant-or-young-child" in text and "regel poh-jeugd-complex" in text
    assert (
        'id="consent-for-regiocoordinator-jgz" name="consent-for-regiocoordinator-jgz" value="true" checked' in review
    )
    assert "consent-for-poh-jeugd" not in review  # internal: no consent asked, the patient is told
    assert 'id="send-button"' in review
    # 4. send
    r = post(client, "/form/send", {"consent-for-regiocoordinator-jgz": "true", "consent-method": "written"}, token)
    assert r.status_code == 303 and r.headers["Location"] == "/form/sent"
    sent = page(client, "/form/sent")
    ids = re.findall(r'<code class="sr-id">([^<]+)</code>', sent)
    assert len(ids) == 1 and "afgeleverd" in sent  # the JGZ's; the POH Jeugd's stays in the practice
    assert "POH Jeugd (eigen praktijk) — interne verwijzing: blijft in de praktijk, vastgelegd in het EPD" in text_of(
        sent
    )
    [sr_id] = ids  # really on the recipients' server
    sr = recipients.read("ServiceRequest", sr_id)
    assert sr["code"]["coding"][0]["code"] == "regiocoordinator-jgz"
    assert sr["subject"] == {"reference": "Patient/demo-pregnant"}  # found there by BSN
    # The requester is the practice the registry names for this EHR (DESIGN.md "Trust"), by its AGB-Z code.
    assert sr["requester"] == {"reference": "#requester", "display": PRACTICE_NAME}
    requester = next(c for c in sr["contained"] if c["resourceType"] == "PractitionerRole")
    assert requester["organization"]["identifier"] == {"system": urls.AGB_Z, "value": PRACTICE_AGB}
    work = web_app.extensions["ks"].forms.work(client.ctx.session_id)
    qr_id = work.result["submission"]
    # the recipient's answers travel inside its ServiceRequest, reduced (no kindcheck, no own judgement) ...
    answers = next(c for c in sr["contained"] if c["resourceType"] == "QuestionnaireResponse")
    assert index_answers(answers).code("consent-method") == "written"
    assert index_answers(answers).first("children-in-household") is None
    # ... and the practice's complete response, the POH Jeugd's ServiceRequest and its Task are not there at all
    assert recipients.search("QuestionnaireResponse", {"_id": qr_id}).get("entry", []) == []
    assert (
        recipients.search("ServiceRequest", {"identifier": f"{urls.ID_REFERRAL}|{qr_id}:poh-jeugd"}).get("entry", [])
        == []
    )
    assert recipients.search("Task", {"identifier": f"{urls.ID_TASK}|{qr_id}:poh-jeugd"}).get("entry", []) == []
    # The patient went along (identity and contact details from the EHR), found on the recipients' server by BSN
    [item] = web_app.extensions["ks"].delivery.outbox.for_submission(qr_id)
    [patient] = [e["resource"] for e in item.bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert patient["identifier"] == [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "999990020"}]
    assert patient["name"][0]["family"] == "de Boer" and "id" not in patient
    # ... and written back to the EHR with the launch's token, naming the EHR's own patient
    assert ehr.read("QuestionnaireResponse", qr_id)["status"] == "completed"
    assert ehr.read("QuestionnaireResponse", qr_id)["subject"] == {"reference": "Patient/demo-pregnant"}
    assert {f"QuestionnaireResponse/{qr_id}"} < set(work.result["ehr"]["written"])
    ehr_srs = [
        e["resource"]
        for e in ehr.search("ServiceRequest", {"identifier": f"{urls.ID_REFERRAL}|{qr_id}:regiocoordinator-jgz"})[
            "entry"
        ]
    ]
    assert [r["supportingInfo"] for r in ehr_srs] == [[{"reference": f"QuestionnaireResponse/{qr_id}"}]]
    # the internal referral: a ServiceRequest and a Task for the POH Jeugd in the practice's own EHR
    [poh_sr] = [
        e["resource"]
        for e in ehr.search("ServiceRequest", {"identifier": f"{urls.ID_REFERRAL}|{qr_id}:poh-jeugd"})["entry"]
    ]
    [poh_task] = [
        e["resource"] for e in ehr.search("Task", {"identifier": f"{urls.ID_TASK}|{qr_id}:poh-jeugd"})["entry"]
    ]
    assert poh_sr["subject"] == {"reference": "Patient/demo-pregnant"} and poh_task["for"] == {
        "reference": "Patient/demo-pregnant"
    }
    assert poh_task["owner"] == {"display": "POH Jeugd (eigen praktijk)"} and poh_task["focus"] == {
        "reference": f"ServiceRequest/{poh_sr['id']}"
    }
    recorded = text_of(sent.split('class="ehr"')[1].split("</section>")[0])
    assert "Vastgelegd in het EPD van de praktijk: de ingevulde vragenlijst" in recorded
    assert "de interne verwijzing met een taak voor POH Jeugd (eigen praktijk)" in recorded
    technical = sent.split('<details class="technical">')[1].split("</details>")[0]  # the ids: only folded away
    assert f"<code>Task/{poh_task['id']}</code>" in technical
    assert f"Task/{poh_task['id']}" not in sent.replace(technical, "")
    # the summary for the HIS
    summary = re.search(
        r'<textarea id="summary" class="summary" readonly rows="14">(.*?)</textarea>', sent, re.S
    ).group(1)
    for part in (
        "Signalen: Huiselijk geweld; Financiële problematiek; Taalbarrière",
        "Meldcode: stappen afgevinkt: 1, 2",
        "Feiten (Meldcode): Blauwe plek op arm gezien.",
        "Kindcheck: kinderen in het huishouden: 2",
        "Toestemming: schriftelijk",
        "Hulpvraag: Wil graag hulp bij geldzaken.",
        "Verstuurd naar Regiocoördinator Jeugdgezondheidszorg Maastricht-Heuvelland (GGD) (GGD Zuid Limburg): afgeleverd",
        "Interne verwijzing (in het EPD, niets verstuurd buiten de praktijk): POH Jeugd (eigen praktijk)",
        "Patiënt geïnformeerd over de zorgen: nee — reden: Niet veilig: partner aanwezig.",
    ):
        assert part in summary
    # each step with date and user: the user in words (this launch has no name: the role), never a FHIR id
    assert re.search(r"stap 1: \d\d-\d\d-\d{4}, de huisarts", summary) and "PractitionerRole" not in summary
    assert sr_id not in summary and "Vastgelegd door: de huisarts" in summary
    assert 'id="copy-summary"' in sent
    assert "Niets verstuurd buiten de praktijk" not in summary and "Niets verstuurd buiten de praktijk" not in sent
    # the closed loop: the recipient takes up the referral, the practice sees it on the same page once its copy is
    # polled (service/referrals/feedback.py; tests/web/test_feedback.py has the poll's limits)
    assert sent.count("Bij de ontvanger: <strong>aangevraagd, nog niet opgepakt</strong>") == 1
    [task] = [e["resource"] for e in recipients.search("Task", {"focus": f"ServiceRequest/{sr_id}"})["entry"]]
    recipients.update({**task, "status": "accepted", "businessStatus": {"text": "Intake gepland"}})
    ks = web_app.extensions["ks"]
    feedback.poll_due(ks.feedback, ks.delivery)
    again = page(client, "/form/sent")
    assert "Bij de ontvanger: <strong>geaccepteerd</strong> — Intake gepland" in again
    # the next launch for this patient (another session, another user) shows it above the form
    other = as_user("demo-pregnant", user="demo-poh")
    earlier = text_of(page(other))
    assert "Eerder verwezen vanuit de praktijk" in earlier
    assert (
        "Regiocoördinator Jeugdgezondheidszorg Maastricht-Heuvelland (GGD): bij de ontvanger geaccepteerd — Intake gepland"
        in earlier
    )
    assert (
        "POH Jeugd (eigen praktijk) (intern, in de praktijk)" in earlier
    )  # its Task is in the EHR, not at a recipient
    assert "Eerder verwezen" not in page(as_user("demo-child-1y"))  # another patient: nothing
    # every access audited, one row per request, by the launch's user; the send's row holds the patient read,
    # the submit, its push and the write-back (service/audit.py)
    by_gp = [
        a
        for a in web_app.extensions["ks"].delivery.audit.entries("Patient/demo-pregnant")
        if a["who"] == "PractitionerRole/demo-gp"
    ]
    assert any(a["event"] == "form" and "populate Patient/demo-pregnant" in a["object"] for a in by_gp)
    [sent] = [a for a in by_gp if a["event"] == "send" and "submit " in a["object"]]
    assert (
        sent["outcome"] == "0" and "patient-read Patient/demo-pregnant" in sent["object"] and "push " in sent["object"]
    )
    assert sent["object"].count("ehr-write ") == 4  # response, two ServiceRequests, the Task
    # sending again (a double click) creates nothing new
    assert (
        post(client, "/form/send", {"consent-for-regiocoordinator-jgz": "true"}, token).headers["Location"]
        == "/form/sent"
    )


DELIVERED_TYPES = ("Patient", "ServiceRequest", "Task", "Consent", "Provenance", "QuestionnaireResponse")


def held(client, rtype: str, **params) -> int:
    """How many `rtype` resources a server holds (matching `params`)."""
    return client.search(rtype, {**params, "_summary": "count"})["total"]


def holdings(client) -> dict[str, int]:
    """Everything a destination Bundle could have put on a server, counted."""
    return {rtype: held(client, rtype) for rtype in DELIVERED_TYPES}


def test_without_consent_nothing_leaves_and_the_internal_referral_stays_in_the_practice(as_user, recipients, ehr):
    """No consent for the JGZ: the recipients' server receives nothing at all (counted there), the review said so
    before, the confirmation and the HIS summary say so after and never say "afgeleverd"; the POH Jeugd's
    referral is in the EHR (ServiceRequest + Task) and in the practice's list of earlier referrals."""
    client = as_user("demo-pregnant")
    token = csrf_of(page(client))
    post(
        client,
        "/form/review",
        {**PREGNANT, "homeless": "true", "substance-addiction": "true", "note": "Zoekt woonruimte."},
        token,
    )
    review = page(client, "/form/review")
    assert (
        'id="consent-for-regiocoordinator-jgz" name="consent-for-regiocoordinator-jgz" value="true" aria' in review
    )  # not pre-ticked
    assert "Wordt NIET verstuurd: geen toestemming." in review
    jgz = article(review, "regiocoordinator-jgz")
    assert "niets — zonder toestemming gaat er niets naar GGD Zuid Limburg." in jgz
    # what it would get, with the patient's identity and contact details, is in sight before the box is ticked
    assert "Met toestemming: de verwijzing" in jgz
    assert "naam, BSN, geslacht, geboortedatum, adres, telefoon en e-mail" in jgz
    assert '<div class="gets" data-gets="regiocoordinator-jgz">' in review
    assert "Gaat naar blijft in de praktijk (EPD)" in article(review, "poh-jeugd")
    assert re.search(
        r'<p class="nothing-external" id="nothing-external">\s*<strong>Er gaat niets buiten de praktijk.</strong>',
        review,
    )
    before, patients_srs = holdings(recipients), held(recipients, "ServiceRequest", subject="Patient/demo-pregnant")
    r = post(client, "/form/send", {"confirm-record-only": "yes"}, token)
    sent = page(client, r.headers["Location"])
    assert holdings(recipients) == before  # not one resource, of any type, reached the recipients' server
    assert held(recipients, "ServiceRequest", subject="Patient/demo-pregnant") == patients_srs
    text = text_of(sent)
    assert "Vastgelegd in het dossier van de praktijk; er is geen verwijzing naar buiten verstuurd." in text
    assert (
        "Niets verstuurd naar Regiocoördinator Jeugdgezondheidszorg Maastricht-Heuvelland (GGD) (geen toestemming)."
        in text
    )
    assert "afgeleverd" not in sent.lower() and "Vastgelegd en verstuurd" not in text and 'class="sr-id"' not in sent
    assert "Status: vastgelegd; niets verstuurd buiten de praktijk" in text
    assert "POH Jeugd (eigen praktijk) — interne verwijzing: blijft in de praktijk, vastgelegd in het EPD" in text
    summary = re.search(
        r'<textarea id="summary" class="summary" readonly rows="14">(.*?)</textarea>', sent, re.S
    ).group(1)
    for part in (
        "Interne verwijzing (in het EPD, niets verstuurd buiten de praktijk): POH Jeugd (eigen praktijk)",
        "Niets verstuurd naar Regiocoördinator Jeugdgezondheidszorg Maastricht-Heuvelland (GGD) (geen toestemming)",
        "Niets verstuurd buiten de praktijk.",
    ):
        assert part in summary, part
    assert "afgeleverd" not in summary and "Verstuurd naar" not in summary
    # the POH Jeugd's referral: in the practice's EHR, a ServiceRequest and a Task owned by that role
    sub = client.application.extensions["ks"].forms.work(client.ctx.session_id).result["submission"]
    [sr] = [
        e["resource"]
        for e in ehr.search("ServiceRequest", {"identifier": f"{urls.ID_REFERRAL}|{sub}:poh-jeugd"})["entry"]
    ]
    [task] = [e["resource"] for e in ehr.search("Task", {"identifier": f"{urls.ID_TASK}|{sub}:poh-jeugd"})["entry"]]
    assert sr["code"]["coding"][0]["code"] == "poh-jeugd" and sr["subject"] == {"reference": "Patient/demo-pregnant"}
    assert task["owner"] == {"display": "POH Jeugd (eigen praktijk)"} and task["status"] == "requested"
    assert task["focus"] == {"reference": f"ServiceRequest/{sr['id']}"}
    assert (
        ehr.search("ServiceRequest", {"identifier": f"{urls.ID_REFERRAL}|{sub}:regiocoordinator-jgz"}).get("entry", [])
        == []
    )
    # ... and in the practice's own list of earlier referrals, marked as internal
    earlier = text_of(
        page(as_user("demo-pregnant", user="demo-poh")).split('class="earlier"')[1].split("</section>")[0]
    )
    assert "POH Jeugd (eigen praktijk) (intern, in de praktijk)" in earlier
    assert "vastgelegd; niets verstuurd buiten de praktijk" in earlier and "Regiocoördinator" not in earlier


def test_consent_without_method_is_asked_again(as_user):
    client = as_user()
    token = csrf_of(page(client))
    post(client, "/form/review", {**PREGNANT, "homeless": "true"}, token)
    r = post(client, "/form/send", {"consent-for-regiocoordinator-jgz": "true"}, token)
    assert r.status_code == 422 and "Kies hoe de toestemming is gegeven" in r.get_data(as_text=True)


def test_no_js_consent_button_updates_the_overview(as_user):
    client = as_user()
    token = csrf_of(page(client))
    post(client, "/form/review", {**PREGNANT, "homeless": "true"}, token)
    r = post(client, "/form/consent", {"consent-for-regiocoordinator-jgz": "true", "consent-method": "verbal"}, token)
    assert r.status_code == 303 and r.headers["Location"] == "/form/review#consent"
    review = page(client, "/form/review")
    assert (
        'name="consent-for-regiocoordinator-jgz" value="true" checked' in review and 'value="verbal" checked' in review
    )
    assert "Wordt verstuurd." in review


def destinations_file(folder, **servers) -> Path:
    """A KS_DESTINATIONS file: destination id -> (display name, base URL)."""
    path = folder / "destinations.yaml"
    path.write_text(
        yaml.safe_dump(
            {"destinations": [{"id": k, "name": name, "base_url": url} for k, (name, url) in servers.items()]}
        ),
        encoding="utf-8",
    )
    return path


def test_consent_per_recipient_only_consented_recipients_get_the_referral(
    tmp_path, recipients_server, ehr_server, as_user, recipients
):
    """Region voorbeeldstad (the registered practice's) sends a pregnant, urgent case to two recipients at two
    destinations, each needing consent. The review names each destination as the deployment does and what each
    gets (the midwives: no signals, no help question); only the consented one's destination is sent to (the other
    one's server is not even running: a single attempt would leave its item waiting in the outbox)."""
    destinations = destinations_file(
        tmp_path,
        **{
            "centrum-jong-voorbeeldstad": (
                "Centrum Jong Voorbeeldstad (jeugdgezondheidszorg)",
                "http://127.0.0.1:9/fhir",
            ),
            "verloskundigen-voorbeeldstad": ("Verloskundigen Voorbeeldstad", recipients_server),
            "ggd-zuid-limburg": ("GGD Zuid Limburg", recipients_server),
        },
    )  # the other region's: every one must be defined
    app = make_app(tmp_path, recipients_server, ehr=ehr_server, region="voorbeeldstad", destinations=destinations)
    client = as_user("demo-pregnant", app=app)
    token = csrf_of(page(client))
    post(
        client,
        "/form/review",
        {
            **PREGNANT,
            "homeless": "true",
            "consent-given": "true",  # not on the form any more; posted anyway, it ticks nothing at review
            "consent-method": "verbal",
            "note": "Graag snel contact.",
        },
        token,
    )
    review = page(client, "/form/review")
    boxes = re.findall(r'name="(consent-for-[a-z-]+)" value="true"( checked)?', review)
    assert boxes == [("consent-for-centrum-jong", ""), ("consent-for-verloskundige", "")]  # one box each, unticked
    assert 'name="consent-method" value="verbal" checked' not in review
    centrum, midwife = article(review, "centrum-jong"), article(review, "verloskundige")
    assert "Gaat naar Centrum Jong Voorbeeldstad (jeugdgezondheidszorg)" in centrum
    assert "de aangevinkte signalen: Dak- of thuisloos" in centrum and "de hulpvraag: ‘Graag snel contact.’" in centrum
    assert "Gaat naar Verloskundigen Voorbeeldstad" in midwife and "het niveau: urgent kwetsbaar" in midwife
    assert "Krijgt niet: de aangevinkte signalen, de hulpvraag." in midwife
    assert "Dak- of thuisloos" not in midwife.split("Waarom")[0] and "Graag snel contact." not in midwife
    r = post(client, "/form/send", {"consent-for-verloskundige": "true", "consent-method": "verbal"}, token)
    sent = page(client, r.headers["Location"])
    [sr_id] = re.findall(r'<code class="sr-id">([^<]+)</code>', sent)
    sr = recipients.read("ServiceRequest", sr_id)
    assert sr["code"]["coding"][0]["code"] == "verloskundige"
    assert "Verloskundigenpraktijk De Voorbeeld — naar Verloskundigen Voorbeeldstad: afgeleverd" in text_of(sent)
    assert "Niets verstuurd naar Centrum Jong Voorbeeldstad (JGZ) (geen toestemming)." in text_of(sent)
    # what the review said the midwives do not get, they did not get
    assert "note" not in sr and [c["coding"][0]["system"] for c in sr["reasonCode"]] == [urls.CS_LEVEL]
    answers = next(c for c in sr["contained"] if c["resourceType"] == "QuestionnaireResponse")
    assert {i["linkId"] for i in answers["item"]} == {"context", "consent"}
    result = app.extensions["ks"].forms.work(client.ctx.session_id).result
    [item] = app.extensions["ks"].delivery.outbox.for_submission(result["submission"])  # none for Centrum Jong
    assert item.destination == "verloskundigen-voorbeeldstad" and item.state == "delivered"
    types = [e["resource"]["resourceType"] for e in item.bundle["entry"]]
    assert types.count("ServiceRequest") == 1 and types.count("Consent") == 1 and types.count("Task") == 1


def test_advice_and_internal_recipient_on_review(as_user):
    client = as_user("demo-preconception")
    token = csrf_of(page(client))
    post(client, "/form/review", {"phase": "preconception", "pregnancy-intention": "LA26438-4"}, token)
    text = text_of(page(client, "/form/review"))
    assert "Preconceptieconsult (eigen praktijk)" in text and "zwangerwijzer.nl" in text
    assert "Interne verwijzing binnen de praktijk" in text
    consult = article(page(client, "/form/review"), "preconceptie-consult")
    assert "Gaat naar blijft in de praktijk (EPD)" in consult and "Er gaat niets buiten de praktijk." in consult
    assert (
        "Wil je het komende jaar zwanger worden? Ja" not in consult
    )  # an internal one lists no shares: all is in the EHR


def test_a_send_that_only_records_never_says_afgeleverd(as_user, monkeypatch):
    """Only the practice's own record: whatever the outbox says of the submission, the confirmation says it was
    recorded in the practice and no referral went out — no "Status: afgeleverd" next to it."""
    from service.referrals.status import DestinationStatus, ReferralStatus
    from service.web import confirmation

    client = as_user("demo-preconception")
    token = csrf_of(page(client))
    post(client, "/form/review", {"phase": "preconception", "pregnancy-intention": "LA26438-4"}, token)
    location = post(client, "/form/send", {"confirm-record-only": "yes"}, token).headers["Location"]
    delivered = ReferralStatus(
        state="delivered", destinations=[DestinationStatus(destination="ehr", state="delivered")]
    )
    monkeypatch.setattr(confirmation, "referral_status", lambda *a, **kw: delivered)
    sent = page(client, location)
    assert "afgeleverd" not in sent and "Vastgelegd en verstuurd" not in text_of(sent)
    assert '<span class="state-value">vastgelegd; niets verstuurd buiten de praktijk</span>' in sent
    assert "Vastgelegd in het dossier van de praktijk; er is geen verwijzing naar buiten verstuurd." in sent


def test_the_preconception_consult_is_a_task_in_the_ehr_and_nothing_leaves(as_user, recipients, ehr):
    client = as_user("demo-preconception")
    token = csrf_of(page(client))
    post(client, "/form/review", {"phase": "preconception", "pregnancy-intention": "LA26438-4"}, token)
    review = page(client, "/form/review")
    assert re.search(r'<p class="nothing-external" id="nothing-external">', review)  # said before sending ...
    before = holdings(recipients)
    sent = text_of(page(client, post(client, "/form/send", {"confirm-record-only": "yes"}, token).headers["Location"]))
    assert holdings(recipients) == before  # ... and so it went
    assert "Vastgelegd in het dossier van de praktijk; er is geen verwijzing naar buiten verstuurd." in sent
    assert "afgeleverd" not in sent
    assert "Zwangerschapswens: Ja, ik wil zwanger worden" in sent  # the HIS summary says what she answered
    assert (
        "Preconceptieconsult (eigen praktijk) — interne verwijzing: blijft in de praktijk, vastgelegd in het EPD"
        in sent
    )
    sub = client.application.extensions["ks"].forms.work(client.ctx.session_id).result["submission"]
    [task] = [
        e["resource"] for e in ehr.search("Task", {"identifier": f"{urls.ID_TASK}|{sub}:preconceptie-consult"})["entry"]
    ]
    assert task["owner"] == {"display": "Preconceptieconsult (eigen praktijk)"} and task["for"] == {
        "reference": "Patient/demo-preconception"
    }
    sr = ehr.read(*task["focus"]["reference"].split("/"))
    assert (
        sr["code"]["coding"][0]["code"] == "preconceptie-consult"
        and sr["identifier"][0]["value"] == f"{sub}:preconceptie-consult"
    )
    earlier = text_of(page(as_user("demo-preconception")))
    assert (
        "Eerder verwezen vanuit de praktijk" in earlier
        and "Preconceptieconsult (eigen praktijk) (intern, in de praktijk)" in earlier
    )


def test_an_ehr_that_refuses_says_so_and_sends_nothing_without_the_patient(
    sekmet_servers, web_app, as_user, recipients
):
    """An EHR that refuses every call: the form says so; an external referral is not sent (the recipients would
    get only the EHR's own Patient/<id>, which names nobody there, or someone else), and an internal one is
    said to be missing from the EHR."""
    from joserfc.jwk import RSAKey

    jwk = {**RSAKey.generate_key(2048).as_dict(private=False), "alg": "RS384", "kid": "k1", "use": "sig"}
    settings = {
        "server_auth": {
            "types": ["smart"],
            "smart_clients": [{"client_id": "x", "jwks": {"keys": [jwk]}, "scopes": "system/*.*"}],
        }
    }
    locked = sekmet_servers.get("locked-ehr", settings=settings).base_url
    client = as_user("demo-pregnant", iss=locked)
    html = page(client)
    assert "Het EPD gaf geen toestemming om te lezen (HTTP 401)." in html
    token = csrf_of(html)
    before = len(recipients.search("ServiceRequest", {}).get("entry", []))
    post(client, "/form/review", {**PREGNANT, "homeless": "true"}, token)
    r = post(client, "/form/send", {"consent-for-regiocoordinator-jgz": "true", "consent-method": "verbal"}, token)
    assert r.status_code == 503 and "Er is niets verstuurd en niets vastgelegd" in r.get_data(as_text=True)
    assert len(recipients.search("ServiceRequest", {}).get("entry", [])) == before
    assert web_app.extensions["ks"].delivery.outbox.list() == []
    parts = "; ".join(a["object"] for a in web_app.extensions["ks"].delivery.audit.entries())
    assert (
        "patient-read Patient/demo-pregnant (outcome 4)" in parts
        and "populate Patient/demo-pregnant (outcome 4)" in parts
    )
    # an internal referral lives only in the EHR: when that refuses, the page does not claim it is recorded
    post(client, "/form/new", {}, token)
    post(client, "/form/review", {**PREGNANT, "homeless": "true", "substance-addiction": "true"}, token)
    internal = page(client, post(client, "/form/send", {"confirm-record-only": "yes"}, token).headers["Location"])
    assert "Het EPD gaf geen toestemming om terug te schrijven (HTTP 401)." in internal
    parts = "; ".join(a["object"] for a in web_app.extensions["ks"].delivery.audit.entries())
    assert re.search(r"ehr-write \S+ \(outcome 4\)", parts)
    assert "interne verwijzing: blijft in de praktijk, maar is NIET vastgelegd in het EPD" in text_of(internal)
    assert (
        "Een interne verwijzing staat daardoor niet in het EPD." in internal
        and "De verwijzing is wel verstuurd" not in internal
    )
    assert "NIET in het EPD vastgelegd, zet haar zelf in het HIS): POH Jeugd (eigen praktijk)" in internal


# ------------------------------------------------------------------------------------------- roles, drafts


def test_assistant_saves_a_draft_cannot_send_and_the_gp_reopens_it(as_user, recipients):
    assistant = as_user("demo-child-1y", user="demo-assistant")
    html = page(assistant)
    assert "Versturen doet de huisarts of de POH Jeugd." in html
    token = csrf_of(html)
    fields = {"phase": "postpartum", "child-birth-date": "2026-01-10", "homeless": "true", "note": "Belt terug."}
    r = post(assistant, "/form/draft", {"_form": "main", **fields}, token)
    assert r.status_code == 303 and r.headers["Location"] == "/form"
    assert "Concept opgeslagen" in page(assistant)
    post(assistant, "/form/review", fields, token)
    review = page(assistant, "/form/review")
    assert 'id="send-button"' not in review and "Versturen mag alleen de huisarts of de POH Jeugd" in review
    # she cannot send, so her review asks no consent and never says it "will be sent": the GP or POH can send it
    consent_state = review.split('id="consent-state-regiocoordinator-jgz">')[1].split("</p>", 1)[0]
    assert consent_state == "De huisarts of POH Jeugd kan dit versturen, met toestemming van de patiënt."
    assert "consent-for-" not in review and 'name="consent-method"' not in review
    assert "Wordt verstuurd." not in review and "Wordt NIET verstuurd" not in review
    r = post(assistant, "/form/send", {"consent-for-regiocoordinator-jgz": "true", "consent-method": "verbal"}, token)
    assert r.status_code == 403
    body = r.get_data(as_text=True)
    assert "Versturen mag alleen de huisarts of de POH Jeugd" in body and "concept" in body
    assert recipients.search("ServiceRequest", {"subject": "Patient/demo-child-1y"}).get("entry", []) == []
    # the GP opens the same patient: the draft is there
    gp = as_user("demo-child-1y", user="demo-gp")
    html = page(gp)
    assert re.search(r"Concept opgeslagen door de doktersassistent op \d\d-\d\d-\d{4} om \d\d:\d\d\.", html)
    assert 'name="homeless" value="true" checked' in html and "Belt terug." in html
    assert 'value="10-01-2026"' in html  # the draft's date as dd-mm-jjjj
    token = csrf_of(html)
    post(gp, "/form/review", fields, token)
    r = post(gp, "/form/send", {"consent-for-regiocoordinator-jgz": "true", "consent-method": "verbal"}, token)
    assert r.headers["Location"] == "/form/sent"
    assert gp.application.extensions["ks"].forms.draft(gp.ctx.iss, "demo-child-1y") is None  # sent: draft gone
    # the HIS summary names who prepared it besides who sent it, dates as dd-mm-jjjj
    summary = page(gp, "/form/sent").split('id="summary"')[1].split("</textarea>")[0]
    assert re.search(r"Concept opgeslagen door de doktersassistent op \d\d-\d\d-\d{4} om \d\d:\d\d\.", summary)
    assert re.search(r"Kansrijke Start — signalering \d\d-\d\d-\d{4} \d\d:\d\d", summary)


# ------------------------------------------------------------------------------------------- security


POST_ROUTES = [
    "/form/panel",
    "/form/review",
    "/form/update",
    "/form/draft",
    "/form/language",
    "/form/meldcode",
    "/form/consent",
    "/form/send",
    "/form/new",
]


@pytest.mark.parametrize("path", POST_ROUTES)
def test_csrf_missing_is_400_and_another_sessions_token_says_the_window_is_of_an_earlier_launch(as_user, path):
    client = as_user()
    page(client)
    r = client.post(path, data={**PREGNANT})
    assert r.status_code == 400 and "Dit formulier is verlopen of ongeldig" in r.get_data(as_text=True)
    other = as_user()  # another session's token (or any wrong one) is no good either
    for token in ("wrong", csrf_of(page(other))):
        r = client.post(path, data={**PREGNANT, "csrf_token": token})
        assert r.status_code == 409 and "opnieuw geopend, mogelijk voor een andere patiënt" in r.get_data(as_text=True)


def test_a_window_of_an_earlier_launch_neither_posts_nor_leads_into_the_newer_patients_form(as_user):
    """Two launches in one browser: the second (another patient) replaces the session cookie. The first window's
    posts and its live panel are refused with a page that says why, shows no patient and links to no form (the
    form behind it is the other patient's); nothing of the first window is saved into the second's form."""
    first = as_user("demo-pregnant")
    old_page = page(first)
    second = as_user("demo-preconception")
    first.set_cookie("ks_session", second.ctx.session_id)  # the browser now holds the newer launch's cookie
    token = csrf_of(old_page)
    r = first.post("/form/review", data={**PREGNANT, "homeless": "true", "csrf_token": token})
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and "Dit venster hoort bij een eerdere opening" in html
    assert "patient-banner" not in html and 'href="/form"' not in html
    panel = first.post("/form/panel", data=PREGNANT, headers={"X-CSRF-Token": token, "X-Panel-Token": "x"})
    assert panel.status_code == 409
    assert re.search(r'name="homeless" value="true"\s*(describedby|aria|>)', page(second))  # there, not ticked
    assert not re.search(r'name="homeless" value="true" checked', page(second))  # the newer form is untouched


def test_csrf_header_for_scripts(as_user):
    client = as_user()
    token = csrf_of(page(client))
    assert client.post("/form/panel", data=PREGNANT, headers={"X-CSRF-Token": token}).status_code == 200


def panel_token_of(html: str) -> str:
    return re.search(r'data-panel-token="([^"]+)"', html).group(1)


def test_panel_token_answers_the_live_panel_without_the_session(as_user):
    """The live panel's token (service/web/security.py panel_token): with it the panel answers without a session
    read and without the CSRF field (the token is bound to the session id: a CSRF token too), the same panel as the
    full guard's; it carries no patient, and no other session can use it."""
    client = as_user("demo-pregnant")
    html = page(client)
    token, fields = panel_token_of(html), {**PREGNANT, "homeless": "true"}
    fast = client.post("/form/panel", data=fields, headers={"X-Panel-Token": token})
    full = post(client, "/form/panel", fields)
    assert fast.status_code == 200 and full.status_code == 200 and "token" not in fast.get_json()
    assert fast.get_json()["html"] == full.get_json()["html"] and 'data-level="urgent"' in fast.get_json()["html"]
    assert fast.headers["Cache-Control"] == "no-store" and "Content-Security-Policy" in fast.headers
    renewed = full.get_json()["token"]
    assert client.post("/form/panel", data=fields, headers={"X-Panel-Token": renewed}).status_code == 200
    payload = base64.urlsafe_b64decode(token.split(".")[0])
    assert "demo-pregnant" not in payload.decode() and client.ctx.session_id not in token
    form_id = json.loads(payload)[4]  # the form the page shows: its facts are kept by it (FormStore.panel_facts)
    assert (
        uuid.UUID(form_id)
        and form_id == client.application.extensions["ks"].forms.work(client.ctx.session_id).identifier
    )
    other = as_user("demo-pregnant")
    page(other)
    r = other.post("/form/panel", data=fields, headers={"X-Panel-Token": token})  # another session's: the full guard
    assert r.status_code == 400 and "Dit formulier is verlopen of ongeldig" in r.get_data(as_text=True)
    forged = token.split(".")[0] + "." + "0" * 64
    assert client.post("/form/panel", data=fields, headers={"X-Panel-Token": forged}).status_code == 400
    # a token of the version before (four claims, no form id), signed: the full guard, not an error
    from service.web import security

    with client.application.test_request_context("/"):
        older = base64.urlsafe_b64encode(json.dumps(json.loads(payload)[:4]).encode())
        signed = older.decode() + "." + security._panel_mac(client.ctx.session_id, older)
    assert client.post("/form/panel", data=fields, headers={"X-Panel-Token": signed}).status_code == 400
    assert post(client, "/form/panel", fields, headers={"X-Panel-Token": signed}).get_json()["token"]


def test_panel_token_expires_and_its_window(as_user):
    """An expired token gets the full guard (CSRF, session); within its lifetime a session deleted on the server
    still gets panels of its own fields (the documented window: PANEL_TOKEN_SECONDS), never a page."""
    from service.web import security

    client = as_user("demo-pregnant")
    page(client)
    app, ctx = client.application, client.ctx
    with app.test_request_context("/"):
        stored = app.extensions["ks"].sessions.load(ctx.session_id)
        old = security.panel_token(stored, now=time.time() - security.PANEL_TOKEN_SECONDS - 1, max_age=8 * 3600)
        fresh = security.panel_token(stored, max_age=8 * 3600)
        short = security.panel_token(replace(stored, expires_at=time.time() + 10), max_age=8 * 3600)
    assert client.post("/form/panel", data=PREGNANT, headers={"X-Panel-Token": old}).status_code == 400
    assert client.post("/form/panel", data=PREGNANT, headers={"X-Panel-Token": short}).status_code == 400
    r = post(client, "/form/panel", PREGNANT, headers={"X-Panel-Token": old})
    assert r.status_code == 200
    with app.test_request_context("/"):
        assert security.panel_session(ctx.session_id, r.get_json()["token"]) is not None
    app.extensions["ks"].sessions.delete(ctx.session_id)
    assert client.get("/form").status_code == 401
    assert client.post("/form/panel", data=PREGNANT, headers={"X-Panel-Token": fresh}).status_code == 200
    assert client.post("/form/panel", data=PREGNANT).status_code == 401


class _Inline(HTMLParser):
    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        names = {k for k, _ in attrs}
        if tag == "script":
            if "src" not in names:
                self.problems.append("inline <script>")
            self._in_script = True
        if tag == "style":
            self.problems.append("<style>")
        self.problems += [f"{tag} {k}=" for k in names if k == "style" or k.startswith("on")]
        self.problems += [
            f"{tag} javascript: url" for k, v in attrs if v and v.strip().lower().startswith("javascript:")
        ]

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append("script content")


def all_pages(as_user, client):
    gp = as_user()
    token = csrf_of(page(gp))
    out = {"form": gp.get("/form")}
    out["form-errors"] = post(gp, "/form/review", {"phase": "pregnant"}, token)
    post(gp, "/form/review", {**PREGNANT, "domestic-violence": "true"}, token)
    out["meldcode"] = gp.get("/form/meldcode")
    post(gp, "/form/meldcode", {}, token)
    out["review"] = gp.get("/form/review")
    out["panel"] = post(gp, "/form/panel", PREGNANT, token)
    post(gp, "/form/send", {}, token)
    out["sent"] = gp.get("/form/sent")
    out["forbidden"] = post(as_user(user="demo-assistant"), "/form/send", {})
    out["csrf"] = gp.post("/form/review", data={})
    out["launch-again"] = client.get("/form")
    out["api"] = client.get("/fhir/metadata")
    out["static"] = client.get("/static/app.js")
    return out


def test_headers_and_no_inline_script_on_every_page(as_user, client):
    for name, r in all_pages(as_user, client).items():
        csp = r.headers.get("Content-Security-Policy", "")
        for directive in (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "frame-ancestors 'self'",
            "form-action 'self'",
        ):
            assert directive in csp, (name, csp)
        assert "unsafe-inline" not in csp and r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        if name not in ("api", "static"):
            assert r.headers["Cache-Control"] == "no-store", name
        if r.mimetype == "text/html":
            parser = _Inline()
            parser.feed(r.get_data(as_text=True))
            assert parser.problems == [], (name, parser.problems)
        if name == "panel":
            parser = _Inline()
            parser.feed(r.get_json()["html"])
            assert parser.problems == []
        r.close()


def test_no_patient_data_in_urls_or_logs(as_user, caplog):
    caplog.set_level(logging.INFO)  # the service's level (KS_LOG_LEVEL): neither content nor resource ids
    client = as_user("demo-pregnant")
    token = csrf_of(page(client))
    locations = []
    note = "Geheime hulpvraag 12345"
    for path, data in (
        ("/form/review", {**PREGNANT, "domestic-violence": "true", "note": note}),
        ("/form/meldcode", {"meldcode-facts": "feit-xyz"}),
        ("/form/send", {"confirm-record-only": "yes"}),
        ("/form/language", {"lang": "en"}),
        ("/form/draft", {}),
    ):
        r = post(client, path, data, token)
        locations.append(r.headers.get("Location", ""))
    assert all(re.fullmatch(r"/form(/[a-z]+)?(#[a-z]+)?", loc) for loc in locations), locations
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("Lisa", "de Boer", "999990020", note, "feit-xyz", "Huiselijk geweld", "2027-03-01", "demo-pregnant"):
        assert secret not in logged, secret


def test_a_queued_referral_shows_delivered_once_it_went_out(tmp_path, recipients_server, ehr_server, as_user):
    """The recipients' server loses the answers of the send's own attempts: the page says queued; after the
    background worker delivers it, the same page says delivered, with the ServiceRequest id."""
    from tests.faultproxy import FaultProxy
    from tests.web.conftest import make_app

    proxy = FaultProxy(int(recipients_server.rsplit(":", 1)[1].split("/")[0]), mode="drop-response", faults=2)
    try:
        app = make_app(tmp_path, proxy.base_url, ehr=ehr_server)
        client = as_user("demo-pregnant", app=app)
        token = csrf_of(page(client))
        post(client, "/form/review", {**PREGNANT, "homeless": "true"}, token)
        r = post(client, "/form/send", {"consent-for-regiocoordinator-jgz": "true", "consent-method": "verbal"}, token)
        queued = page(client, r.headers["Location"])
        assert "in de wachtrij" in queued and 'class="sr-id"' not in queued
        assert (
            "afgeleverd" not in queued.lower() and "Vastgelegd en verstuurd" not in queued
        )  # it has reached nobody yet
        assert (
            "In de wachtrij voor Regiocoördinator Jeugdgezondheidszorg Maastricht-Heuvelland (GGD) (GGD Zuid Limburg)"
            in queued
        )
        delivery = app.extensions["ks"].delivery
        [item] = delivery.outbox.list()
        delivery.pusher.push(item)  # what the background worker does
        delivered = page(client, "/form/sent")
        assert "afgeleverd" in delivered and len(re.findall(r'<code class="sr-id">', delivered)) == 1
        assert "Bij de ontvanger: <strong>aangevraagd, nog niet opgepakt</strong>" in delivered
        # the summary for the HIS says so too now, not what stood at the moment of sending
        summary = re.search(
            r'<textarea id="summary" class="summary" readonly rows="14">(.*?)</textarea>', delivered, re.S
        ).group(1)
        assert (
            "Verstuurd naar Regiocoördinator Jeugdgezondheidszorg Maastricht-Heuvelland (GGD) (GGD Zuid Limburg): afgeleverd"
            in summary
        )
        assert "In de wachtrij" not in summary and "Vastgelegd en verstuurd" in delivered
    finally:
        proxy.close()
