"""The Meldcode step (KNMG Meldcode, DOMAIN.md §3.3): shown between the form and review when a safety flag of the
Meldcode panel is raised; records each step with date and user, whether the patient was informed (and if not,
why), the facts, and the children in the household."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from service.questionnaires.form import check_fields
from service.texts import pick
from service.web.common import (
    CHILDREN,
    banner_for,
    evaluate_fields,
    first_value,
    meldcode_steps,
    needs_meldcode,
    page_lang,
    practice_now,
    questionnaire,
    save_work,
    web,
)
from service.web.guard import reviewed, step
from service.web.store import WorkState
from service.web.user import display_name

MAX_FACTS = 2000


@web.get("/form/meldcode")
@step(work=reviewed)
def meldcode(ctx, work: WorkState):
    _, _, evaluation = evaluate_fields(ctx, work.fields, status="in-progress")
    if not needs_meldcode(evaluation):
        return redirect(url_for(".review"), 303)
    return _render_meldcode(ctx, work, None)


@web.post("/form/meldcode")
@step(work=reviewed)
def meldcode_done(ctx, work: WorkState):
    known = {s.id for s in meldcode_steps()}
    steps = [s for s in request.form.getlist("meldcode-step") if s in known]
    # DOMAIN.md §3.3: each step with date and user; whether the patient was informed, and if not, why.
    earlier = work.meldcode.get("done_by", {})
    stamp = {"date": practice_now().date().isoformat(), "name": display_name(ctx), "role": ctx.role}
    informed = request.form.get("meldcode-informed", "")
    work.meldcode = {
        "seen": True,
        "steps": steps,
        "done_by": {sid: earlier.get(sid, stamp) for sid in steps},
        "informed": informed if informed in ("yes", "no") else "",
        "not_informed_reason": request.form.get("meldcode-not-informed-reason", "").strip()[:MAX_FACTS],
        "facts": request.form.get("meldcode-facts", "").strip()[:MAX_FACTS],
    }
    if not first_value(work.fields, CHILDREN) or request.form.get("children-asked") == "yes":
        # the kindcheck is asked here only when the form left it empty; the form's answer is a fact here
        children = request.form.get(CHILDREN, "").strip()
        work.fields = {**work.fields, CHILDREN: [children] if children else []}
        errors = [
            e for e in check_fields(questionnaire(), work.fields, today=practice_now().date()) if e.link_id == CHILDREN
        ]
        if errors:
            work.meldcode["seen"] = False
            save_work(ctx, work)
            return _render_meldcode(
                ctx, work, pick(page_lang(ctx), errors[0].text, errors[0].english), 422, ask_children=True
            )
    save_work(ctx, work)
    return redirect(url_for(".review"), 303)


def _render_meldcode(ctx, work: WorkState, error: str | None, status: int = 200, *, ask_children: bool = False):
    """The Meldcode step. The kindcheck (children in the household) is the form's question: answered there, it
    shows here as a fact; asked here only when the form left it empty (or its answer here was not a number)."""
    item = questionnaire().items.get(CHILDREN)
    lang = page_lang(ctx)
    children_label = pick(lang, item.text, item.text_en) if item else ""
    return render_template(
        "meldcode.html",
        steps=meldcode_steps(),
        done=set(work.meldcode.get("steps", ())),
        facts=work.meldcode.get("facts", ""),
        informed=work.meldcode.get("informed", ""),
        not_informed_reason=work.meldcode.get("not_informed_reason", ""),
        children=first_value(work.fields, CHILDREN),
        children_label=children_label,
        ask_children=ask_children or not first_value(work.fields, CHILDREN),
        error=error,
        banner=banner_for(ctx, work),
        page="meldcode",
        max_facts=MAX_FACTS,
    ), status
