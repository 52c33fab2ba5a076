"""The QuestionnaireResponse resource of the API: a FHIR create that submits the referral, read and vread of what
was created (by the caller that created it), and where its referrals stand.

- `POST /fhir/QuestionnaireResponse`: FHIR create (https://hl7.org/fhir/R4/http.html#create) that also submits
  (validate, evaluate, store in the outbox, push: service/referrals/submit.py). 201 with `Location:
  [base]/QuestionnaireResponse/[id]/_history/[vid]`, `ETag` and `Last-Modified`; 200 when that response was
  submitted before (the same id: it is the submission id, from the response's identifier or content; amended, a
  new version). The body as `Prefer: return=` asks (http.html#ops): `representation` (the default: the stored
  response), `minimal` (none) or `OperationOutcome` (the referral outcome as issues). A `Link` header (rel
  "related") names where the referral outcome is.
- `GET /fhir/QuestionnaireResponse/{id}` (and `/_history/{vid}`): read and vread, only for the caller that
  submitted it (anyone when the API is open); for others it does not exist (404).
- `GET|POST /fhir/QuestionnaireResponse/{id}/$referral-status`: our operation (OperationDefinition
  QuestionnaireResponse-referral-status): the outcome per destination (state, recipients, the ids on its server,
  a refusal's OperationOutcome), the practice's record and the evaluation. It changes as the outbox delivers.
- `POST /fhir/QuestionnaireResponse/$submit`: our operation (QuestionnaireResponse-submit): create and that outcome
  in one call, with the status codes POST /fhir/QuestionnaireResponse had up to 1.0 (201 delivered or recorded,
  202 queued or partly refused, 502 every destination refused), for the HIS built against them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime

from flask import current_app, request

from service.api.auth import access_point, audit_read, audit_who, caller, caller_practice, caller_region, require
from service.api.base import QR_PARAM_NAMES, api, base_url, fhir_response, prefer, read_body
from service.api.responses import ResponseStore, Stored
from service.audit import patient_keys
from service.errors import Issue, NotFound, operation_outcome
from service.errors_render import response_lang
from service.fhir import urls
from service.referrals.bundle import submission_id
from service.referrals.explain import to_parameters
from service.referrals.feedback import copy_of
from service.referrals.recent import VIA_TEXT, RecentReferral
from service.referrals.submit import destination_states, overall_state, patient_in_bundle
from service.services import services
from service.texts import Text, texts

RETURN_PREFERENCES = ("minimal", "representation", "OperationOutcome")


STATE_CODES = {"dead": "dead-letter"}


def submit_result_parameters(result, qdef, names) -> dict:
    """What $submit answers (and POST /fhir/QuestionnaireResponse did up to 1.0): see status_parameters; and
    `issues`, an OperationOutcome of warnings, when a recipient had a referral for the patient recently."""
    evaluation = to_parameters(result.extraction.evaluation, qdef)["parameter"]
    params = status_parameters(
        result.submission_id, result.state, result.destinations, result.extraction.bundles.record, evaluation, names
    )
    return with_issues(params, recent_issues(result.earlier))


def recent_issues(found: Iterable[RecentReferral]) -> list[Issue]:
    """Each referral to a recipient of this response for the same patient within KS_RECENT_REFERRAL_DAYS, from
    the form or the API (service/referrals/recent.py), as an issue an HIS shows its user before sending again:
    severity `warning` (the operation went ahead) and code `business-rule` (a rule of the practice's work, not
    of the content's structure), http://hl7.org/fhir/R4/operationoutcome.html and valueset-issue-type.html."""
    return [
        Issue.of(
            texts(
                "api.recent_referral",
                name=Text(r.name("nl"), r.name("en")),
                recipient=r.recipient,
                date=r.date(),
                via=texts(VIA_TEXT[r.via]),
            ),
            severity="warning",
            code="business-rule",
        )
        for r in found
    ]


def with_issues(parameters: dict, issues: list[Issue]) -> dict:
    """A Parameters answer with its `issues` out parameter (an OperationOutcome, as SDC's $populate and
    $extract carry theirs) when there are any."""
    if issues:
        parameters["parameter"].append({"name": "issues", "resource": operation_outcome(issues, response_lang())})
    return parameters


def status_parameters(
    submission: str, state: str, destinations, record: dict, evaluation: list, names, copy=None
) -> dict:
    """$referral-status's answer: the overall state; per destination its state, recipients and the ids on its
    server, and per referral where it stands at the recipient as the practice's copy has it (`copy`: recipient ->
    feedback.ReferralFeedback); the practice's own record (the complete response and the internal referrals, for
    the HIS to store: nothing of it went anywhere else); the decision."""
    params: list[dict] = [
        {"name": "submission", "valueString": submission},
        {"name": "state", "valueCode": STATE_CODES.get(state, state)},
    ]
    for d in destinations:
        parts = [
            {"name": "name", "valueString": d.destination},
            {"name": "display", "valueString": names(d.destination)},
            {"name": "state", "valueCode": STATE_CODES.get(d.state, d.state)},
        ]
        parts += [{"name": "recipient", "valueString": r} for r in d.recipients]
        for rtype, name in (("ServiceRequest", "serviceRequest"), ("Task", "task"), ("Consent", "consent")):
            parts += [
                {"name": name, "valueReference": {"reference": _on_server(d.destination, f"{rtype}/{rid}")}}
                for rid in d.delivered.ids.get(rtype, [])
            ]
        parts += [_referral_part(copy[r]) for r in d.recipients if copy and r in copy]
        if d.state == "dead":
            parts.append({"name": "outcome", "resource": _refusal(d, names)})
        params.append({"name": "destination", "part": parts})
    params.append({"name": "record", "resource": record})
    params.append({"name": "evaluation", "part": evaluation})
    return {"resourceType": "Parameters", "parameter": params}


def _on_server(destination: str, relative: str) -> str:
    """A resource on the destination's server, as an absolute reference: a relative one would be read against this
    service's base, where it is not (https://hl7.org/fhir/R4/references.html#literal)."""
    found = services().delivery.destinations.get(destination)
    return f"{found.base_url.rstrip('/')}/{relative}" if found is not None and found.base_url else relative


def _referral_part(found) -> dict:
    """One referral as the practice's copy has it (service/referrals/feedback.py, kept by its poller, so this
    operation never waits on a recipient's server): the Task's status, businessStatus, outcome and message, and the
    copy's age: `checked`, the instant its destination was last polled (absent: not yet), and `lastModified`, the
    Task's own (https://hl7.org/fhir/R4/task-definitions.html#Task.lastModified)."""
    parts: list[dict] = [{"name": "recipient", "valueString": found.recipient}]
    if found.status:
        parts.append({"name": "status", "valueCode": found.status})
    for name, value in (("businessStatus", found.business_text), ("reason", found.reason_text)):
        if value:
            parts.append({"name": name, "valueString": value})
    if found.outcome:
        outcome = {"system": urls.CS_TASK_OUTCOME, "code": found.outcome}
        parts.append(
            {
                "name": "outcome",
                "valueCoding": outcome | ({"display": found.outcome_text} if found.outcome_text else {}),
            }
        )
    if found.message:
        parts.append({"name": "message", "valueString": found.message})
    if found.last_modified:
        parts.append({"name": "lastModified", "valueInstant": found.last_modified})
    if found.polled_at:
        checked = datetime.fromtimestamp(found.polled_at, UTC).replace(microsecond=0).isoformat()
        parts.append({"name": "checked", "valueInstant": checked})
    return {"name": "referral", "part": parts}


def _refusal(d, names) -> dict:
    """A destination's refusal as an OperationOutcome: ours, then the server's own issues."""
    outcome = operation_outcome(
        [
            Issue.of(
                texts(
                    "api.refused",
                    name=names(d.destination),
                    destination=d.destination,
                    status=d.item.last_status,
                    item=d.item.id,
                ),
                code="processing",
            )
        ],
        response_lang(),
    )
    outcome["issue"] += ((d.item.last_error or {}).get("operationOutcome") or {}).get("issue", [])
    return outcome


def _store() -> ResponseStore:
    store = services().responses
    assert store is not None  # set by service/api/auth.py init_app, which the factory calls
    return store


def stored_response(rid: str | None, version: str | None = None) -> Stored:
    """The caller's own stored response, or NotFound (also for another caller's: it learns nothing)."""
    vid = int(version) if version is not None and version.isdigit() else None
    found = None
    if rid is not None and (version is None or vid is not None):
        found = _store().get(rid, caller(), vid)
    if found is None:
        reference = f"QuestionnaireResponse/{rid}" + (f"/_history/{version}" if version is not None else "")
        others = _store().patient_of_others(rid, caller()) if rid is not None else None
        if others is not None:  # another caller's: a refused access to that patient's data, logged (NEN 7513)
            audit_read("read", *patient_keys(others or None), f"{reference}: not this caller's", outcome="4")
        raise NotFound(texts("api.not_found", reference=reference))
    return found


def _submit(qr: dict):
    """Submit (service/referrals/submit.py: its own audit row) and store the response for its caller."""
    ks = services()
    region = caller_region(request.args.get("region"))
    owner = caller() or ""
    if owner and _store().get(submission_id(qr), owner) is not None:
        owner = ""  # this client's submission from before submissions were made per client: still the same one
    result = ks.delivery.submitter.submit(
        qr,
        region=region,
        who=audit_who(),
        access_point=access_point(),
        practice=caller_practice(),
        owner=owner,
    )
    qdef = result.extraction.validation.questionnaire
    record = result.extraction.bundles.record
    assert qdef is not None  # a submitted response passed validation against its Questionnaire
    data: dict[str, object] = {
        "region": region,
        "patient": patient_in_bundle(record),
        "recipients": {d.destination: list(d.recipients) for d in result.destinations},
        "record": record,
        "evaluation": to_parameters(result.extraction.evaluation, qdef)["parameter"],
    }
    return result, _store().put(result.submission_id, qr, caller(), data)


def _headers(response, stored: Stored, *, location: bool = True):
    vid = f"{base_url()}/QuestionnaireResponse/{stored.id}/_history/{stored.version}"
    if location:
        response.headers["Location"] = vid
    response.headers["ETag"] = f'W/"{stored.version}"'
    response.headers["Last-Modified"] = format_datetime(
        datetime.fromisoformat(stored.last_updated.replace("Z", "+00:00")), usegmt=True
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _status_link(stored: Stored) -> str:
    return f"{base_url()}/QuestionnaireResponse/{stored.id}/$referral-status"


def _outcome(result, stored: Stored) -> dict:
    """`Prefer: return=OperationOutcome`: the referral outcome as issues, one per destination."""
    names = services().delivery.name
    state = STATE_CODES.get(result.state, result.state)
    issues = [
        Issue.of(
            texts("api.submit.outcome", submission=stored.id, state=state, status_url=_status_link(stored)),
            severity="information",
            code="informational",
        )
    ]
    refused = []
    for d in result.destinations:
        if d.state == "delivered":
            ids = ", ".join(
                f"{t}/{i}" for t in ("ServiceRequest", "Task", "Consent") for i in d.delivered.ids.get(t, [])
            )
            issues.append(
                Issue.of(
                    texts("api.submit.delivered", name=names(d.destination), ids=ids or "-"),
                    severity="information",
                    code="informational",
                )
            )
        elif d.state == "queued":
            issues.append(
                Issue.of(texts("api.submit.queued", name=names(d.destination)), severity="warning", code="transient")
            )
        else:
            refused += _refusal(d, names)["issue"]
    outcome = operation_outcome([*issues, *recent_issues(result.earlier)], response_lang())
    outcome["issue"] += refused
    return outcome


@api.post("/QuestionnaireResponse")
def create_qr():
    """FHIR create that submits the referral: see the module's docstring."""
    require("QuestionnaireResponse", "c")
    qr = read_body("QuestionnaireResponse", QR_PARAM_NAMES)
    result, stored = _submit(qr)
    wanted = prefer("return")
    wanted = next((p for p in RETURN_PREFERENCES if wanted and p.lower() == wanted.lower()), "representation")
    status = 201 if stored.created else 200
    if wanted == "minimal":
        response = current_app.response_class(status=status)
        del response.headers["Content-Type"]  # no body
    elif wanted == "OperationOutcome":
        response = fhir_response(_outcome(result, stored), status)
    else:
        response = fhir_response(stored.resource, status)
    response.headers["Link"] = f'<{_status_link(stored)}>; rel="related"'
    return _headers(response, stored)


def _audit_read(stored: Stored, what: str) -> None:
    audit_read("read", *patient_keys(stored.data.get("patient")), what)


@api.get("/QuestionnaireResponse/<fhirid:rid>")
@api.get("/QuestionnaireResponse/<fhirid:rid>/_history/<fhirid:vid>")
def read_qr(rid: str, vid: str | None = None):
    """Read and vread of a response this caller submitted (https://hl7.org/fhir/R4/http.html#read)."""
    require("QuestionnaireResponse", "rc")  # the creator reads back what it created, also with only `.c`
    stored = stored_response(rid, vid)
    _audit_read(stored, f"QuestionnaireResponse/{rid}/_history/{stored.version}")
    return _headers(fhir_response(stored.resource), stored, location=False)


@api.route("/QuestionnaireResponse/<fhirid:rid>/$referral-status", methods=["GET", "POST"])
def referral_status(rid: str):
    """Where the referrals of a submitted response stand now: OperationDefinition
    QuestionnaireResponse-referral-status. No input parameters (a POST body, if any, is not read)."""
    require("QuestionnaireResponse", "rc")
    stored = stored_response(rid)
    ks = services()
    recipients = {name: tuple(r) for name, r in stored.data.get("recipients", {}).items()}
    states = destination_states(ks.delivery.outbox.for_submission(rid), recipients)
    copy = copy_of(ks.feedback, ks.delivery, rid) if ks.feedback is not None else {}
    _audit_read(stored, f"QuestionnaireResponse/{rid}/$referral-status")
    body = status_parameters(
        rid, overall_state(states), states, stored.data["record"], stored.data["evaluation"], ks.delivery.name, copy
    )
    response = fhir_response(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@api.post("/QuestionnaireResponse/$submit")
def submit_qr():
    """Create and the referral outcome in one call (OperationDefinition QuestionnaireResponse-submit).

    201 when every destination took its Bundle (or nothing had to leave the practice); 202 when some wait in
    the outbox (a server not reachable: they go out later, once) or were refused while others took theirs (each
    refused one with its `outcome`, kept as a dead letter); 502 with an OperationOutcome when every destination
    refused. `Location` names the stored response in each case."""
    require("QuestionnaireResponse", "c")
    qr = read_body("QuestionnaireResponse", QR_PARAM_NAMES)
    result, stored = _submit(qr)
    names = services().delivery.name
    if result.state == "dead" and not any(d.state == "delivered" for d in result.destinations):
        # Every destination refused: nothing went and nothing will by itself. An OperationOutcome (what the HIS
        # must act on), as for any failed operation; the referral stays in the outbox for a retry after a fix.
        outcome = operation_outcome([], response_lang())
        for d in result.destinations:
            outcome["issue"] += _refusal(d, names)["issue"]
        outcome["issue"] += operation_outcome(recent_issues(result.earlier), response_lang())["issue"]
        return _headers(fhir_response(outcome, 502), stored)
    body = submit_result_parameters(result, result.extraction.validation.questionnaire, names)
    return _headers(fhir_response(body, 201 if result.state in ("delivered", "recorded") else 202), stored)
