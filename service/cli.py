"""`kansrijk`: validate, evaluate and extract QuestionnaireResponses from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from service.api.fhirjson import parse_fhir_json, unwrap_parameter
from service.errors import KsError, StartupError, operation_outcome
from service.fhir.errors import FhirError
from service.texts import bilingual, text, texts

EXIT_OK, EXIT_INVALID, EXIT_CONFIG = 0, 2, 3


def _settings():
    from service.config import load_settings

    return load_settings()


def _engine(args):
    from service.referrals.pipeline import Engine
    from service.version import __version__

    settings = _settings()
    return Engine.from_folders(
        settings.questionnaires_dir, settings.mappings_dir, args.region or settings.region, __version__
    )


def _delivery(args):
    from service.referrals.wiring import build_delivery

    return build_delivery(_settings(), _engine(args))


def _cli_user() -> str:
    """Who runs the command, for the audit log: 'cli:<login name>'."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _read(path: str) -> dict:
    try:
        body = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise KsError(texts("cli.cannot_read", path=path, reason=exc.strerror)) from None
    data = parse_fhir_json(body, "application/fhir+json", max_depth=64)
    return unwrap_parameter(
        data, ("questionnaire-response", "questionnaireResponse", "resource"), "QuestionnaireResponse"
    )


def _fail(outcome: dict) -> int:
    json.dump(outcome, sys.stderr, ensure_ascii=False, indent=2)
    sys.stderr.write("\n")
    return EXIT_INVALID


def cmd_validate(args) -> int:
    result = _engine(args).validate(_read(args.file))
    if not result.ok:
        return _fail(operation_outcome(list(result.issues)))
    print(f"{args.file}: {bilingual('cli.valid')} ({result.questionnaire.canonical})")
    return EXIT_OK


def cmd_evaluate(args) -> int:
    from service.referrals.explain import describe, to_parameters

    result, evaluation = _engine(args).evaluate(_read(args.file), args.region)
    if args.json:
        json.dump(to_parameters(evaluation, result.questionnaire), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print(describe(evaluation, result.questionnaire, args.lang))
    return EXIT_OK


def cmd_extract(args) -> int:
    extraction = _engine(args).extract(_read(args.file), args.region)
    json.dump(extraction.bundle, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return EXIT_OK


# A submission's state, printed in both languages (service/texts.py).
STATE_TEXT = {
    "delivered": "state.delivered",
    "queued": "cli.state.queued",
    "dead": "cli.state.dead",
    "recorded": "cli.state.recorded",
}


def cmd_submit(args) -> int:
    from service.referrals.explain import describe

    delivery = _delivery(args)
    result = delivery.submitter.submit(_read(args.file), region=args.region, who=_cli_user(), access_point="cli")
    print(describe(result.extraction.evaluation, result.extraction.validation.questionnaire))
    print(f"{bilingual('cli.submission')} {result.submission_id}: {bilingual(STATE_TEXT[result.state])}")
    for d in result.destinations:
        print(f"  {delivery.name(d.destination)} ({d.destination}): {bilingual(STATE_TEXT[d.state])}")
        for rtype in ("ServiceRequest", "Task", "Consent"):
            for rid in d.delivered.ids.get(rtype, []):
                print(f"    {rtype}/{rid}")
        if d.state == "queued" and not (delivery.pusher and delivery.pusher.serves(d.item)):
            print("    " + text("cli.queued_no_server"))
        elif d.state == "queued":
            print("    " + text("cli.queued_unreachable"))
    _no_server_note(delivery, result.destinations)
    if result.state == "dead":
        for d in result.destinations:
            if d.state == "dead":
                json.dump(
                    (d.item.last_error or {}).get("operationOutcome") or {}, sys.stderr, ensure_ascii=False, indent=2
                )
                sys.stderr.write("\n")
        return EXIT_INVALID
    return EXIT_OK


def _no_server_note(delivery, destinations) -> None:
    """When no destination has a server (neither KS_FHIR_BASE_URL nor KS_DESTINATIONS set): what was stored where,
    that nothing was sent, and how to send it, in Dutch and English. Storing it is what `submit` could do: exit 0,
    as the API's 202 (queued); `kansrijk outbox retry` sends it once a server is set. (KS_DESTINATIONS names a
    server for every destination the mappings use, or the service does not start: never only some.)"""
    serves = delivery.pusher.serves if delivery.pusher else lambda item: False
    if not destinations or any(d.state != "queued" or serves(d.item) for d in destinations):
        return
    note = texts("cli.not_sent_no_server", outbox=delivery.outbox.where)  # its file, or the PostgreSQL database
    print(note.nl)
    print(note.en)


def _item_line(item) -> str:
    when = item.delivered_at or item.created_at
    status = f"HTTP {item.last_status}" if item.last_status else "-"
    return f"{item.id}  {item.destination or 'default':28s}  {item.state:9s}  attempts={item.attempts}  last={status:8s}  {when}"


def cmd_outbox(args) -> int:
    delivery = _delivery(args)
    outbox = delivery.outbox
    if args.action == "list":
        items = outbox.list(args.state)
        for item in items:
            print(_item_line(item))
        counts = outbox.counts()
        print(
            f"{len(items)} shown; " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
            if counts
            else "the outbox is empty"
        )
        return EXIT_OK
    if args.action == "show":  # an item, or every destination's item of a submission
        item = outbox.get(args.id or "")
        items = [item] if item else outbox.for_submission(args.id or "")
        if not items:
            print(f"no outbox item or submission {args.id}", file=sys.stderr)
            return EXIT_INVALID
        _audit_show(delivery, items, bundle=args.bundle)
        for item in items:
            print(_item_line(item))
            print(f"  destination: {delivery.name(item.destination)}")
            if item.last_error:
                print("  last error:", json.dumps(item.last_error, ensure_ascii=False, indent=2))
            if args.bundle:
                print(json.dumps(item.bundle, ensure_ascii=False, indent=2))
        return EXIT_OK
    # retry: dead letters and queued items (or one item, or one submission's) due now, then push them
    count = outbox.retry(args.id, queued=True)
    print(f"{count} item(s) due now")
    if delivery.pusher is None:
        print("no destination has a FHIR server (KS_DESTINATIONS / KS_FHIR_BASE_URL): the items wait", file=sys.stderr)
        return EXIT_OK
    delivery.pusher.responsible, delivery.pusher.access_point = _cli_user(), "cli"  # each push: a row on our behalf
    while delivery.pusher.push_due():
        pass
    print(", ".join(f"{k}: {v}" for k, v in sorted(outbox.counts().items())))
    return EXIT_OK


def _audit_show(delivery, items, *, bundle: bool) -> None:
    """`outbox show` reads what goes to a recipient (the last error may echo it; --bundle prints all of it):
    one audit row per patient of the items shown."""
    from service.audit import AuditEntry
    from service.referrals.submit import patient_in_bundle

    by_patient: dict[str | None, list[str]] = {}
    for item in items:
        by_patient.setdefault(patient_in_bundle(item.bundle), []).append(item.id)
    for patient, ids in by_patient.items():
        delivery.audit.record(
            AuditEntry(
                event="outbox-show",
                action="R",
                outcome="0",
                who=_cli_user(),
                patient=patient,
                object=f"outbox {', '.join(ids)}" + (" with the Bundle" if bundle else ""),
                access_point="cli",
            )
        )


def cmd_consent(args) -> int:
    """Withdraw the patient's consent for one recipient of a submission (its destination only)."""
    from service.errors import KsError
    from service.fhir.errors import FhirError
    from service.referrals.withdraw import withdraw_consent

    try:
        done = withdraw_consent(_delivery(args), args.submission, args.recipient, who=_cli_user(), access_point="cli")
    except StartupError:  # settings or configuration files: stops the command as any start-up (main)
        raise
    except KsError as exc:
        print(json.dumps(exc.to_operation_outcome(), ensure_ascii=False, indent=2), file=sys.stderr)
        return EXIT_INVALID
    except FhirError as exc:
        print(
            text("cli.withdraw_failed", error=type(exc).__name__, status=exc.status),
            file=sys.stderr,
        )
        return EXIT_INVALID
    print(
        text(
            "cli.withdrawn",
            destination=done.destination,
            consent=done.consent or text("cli.no_consent"),
            task=done.task or text("cli.no_task"),
        )
    )
    return EXIT_OK


def cmd_cancel(args) -> int:
    """The practice's cancel of a referral (`<submission>:<recipient>`) or of every referral of a submission: at the
    recipient (Task cancelled, ServiceRequest revoked), or taken back from the outbox when it has not gone yet
    (service/referrals/withdraw.py cancel_referral). Audit-logged as the user running the command."""
    from service import open_feedback
    from service.referrals.feedback import referrals_of_bundle
    from service.referrals.withdraw import cancel_referral

    delivery = _delivery(args)
    submission, _, one = args.referral.partition(":")
    items = delivery.outbox.for_submission(submission)
    recipients = [one] if one else [r for i in items for r, _, _ in referrals_of_bundle(i.bundle)]
    if not items or not recipients:
        raise KsError(texts("cli.cancel_unknown", referral=args.referral))
    # the practice's copy and the mirror's events, wired as the app wires them; the copy first learns of what was
    # delivered since the app's poller last looked, so that the cancel's Task reaches both
    copy = open_feedback(_settings(), delivery)
    copy.track(delivery.outbox)
    failed = 0
    for recipient in recipients:
        try:
            done = cancel_referral(
                delivery, submission, recipient, _cli_user(), args.reason, access_point="cli", copy=copy
            )
        except StartupError:
            raise
        except KsError as exc:
            failed += 1
            issue = exc.issues[0]
            print(text("cli.cancel_refused", recipient=recipient, reason=issue.text), file=sys.stderr)
            continue
        except (FhirError, OSError) as exc:
            failed += 1
            print(text("cli.cancel_unreachable", recipient=recipient, error=type(exc).__name__), file=sys.stderr)
            continue
        key = "cli.cancelled_unsent" if done.unsent else "cli.cancelled"
        print(text(key, recipient=recipient, destination=delivery.name(done.destination) or done.destination))
    return EXIT_INVALID if failed else EXIT_OK


def cmd_audit(args) -> int:
    """Every access to one patient's data (NEN 7513 inspection request, DOMAIN.md §4.3), as JSON lines or CSV,
    whichever of the patient's identifiers is given (Patient/<id> or the BSN): the rows that name the patient by
    both lead to the rest (service/audit.py). The export is itself recorded in the audit log, one row per patient."""
    import csv

    from service.audit import AuditEntry, patient_keys

    audit = _delivery(args).audit
    groups: list[set[str]] = []  # the patients asked for, each as all its keys
    for ref in args.patient:
        keys = audit.linked_keys([ref])
        for group in [g for g in groups if g & keys]:
            groups.remove(group)
            keys |= group
        groups.append(keys)
    rows = list({row["seq"]: row for keys in groups for ref in sorted(keys) for row in audit.entries(ref)}.values())
    rows.sort(key=lambda r: r["seq"])
    if args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["seq"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    for keys in groups:
        given = [ref for ref in args.patient if ref in keys]
        split = [patient_keys(k) for k in [*given, *sorted(keys - set(given))]]
        audit.record(
            AuditEntry(
                event="audit-export",
                action="E",
                outcome="0",
                who=_cli_user(),
                patient=next((r for r, _ in split if r), None),
                patient_identifier=next((i for _, i in split if i), None),
                object=f"{len(rows)} rows",
                access_point="cli",
            )
        )
        if linked := sorted(keys - set(given)):
            print(f"{', '.join(given)}: also found as {', '.join(linked)}", file=sys.stderr)
    print(f"{len(rows)} audit row(s) for {', '.join(args.patient)}", file=sys.stderr)
    return EXIT_OK


def cmd_demo_data(args) -> int:
    from service.run import load_demo

    settings = _settings()
    if not settings.fhir_base_url:
        print("set KS_FHIR_BASE_URL to the FHIR server to load the demo data into", file=sys.stderr)
        return EXIT_CONFIG
    if args.recipients:  # a recipients' server: only the recipient organisations, no practice, no patients
        from service.run import load_recipients

        count = load_recipients(settings.fhir_base_url)
        print(f"{count} recipient organisations loaded into {settings.fhir_base_url}")
        return EXIT_OK
    count = load_demo(settings.fhir_base_url, args.region or settings.region)
    print(f"{count} demo resources loaded into {settings.fhir_base_url}")
    return EXIT_OK


def _add_report(sub) -> None:
    """`kansrijk report`: its formats are those of service/mirror/export.py FORMATS (the hook for more)."""
    from service.mirror.export import FORMATS

    p = sub.add_parser(
        "report",
        help="the mirror figures of a period: a practice's own (--practice) or the region's with small numbers "
        "suppressed (--region)",
    )
    p.add_argument("--period", required=True, help="a quarter (2026Q4) or a year (2026)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--practice", help="the practice's registry id: its own figures, unsuppressed")
    who.add_argument("--region", dest="scope_region", help="the region's rule set id (default: KS_REGION)")
    p.add_argument("--format", choices=sorted(FORMATS), default="csv")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    """The mirror figures of one period (issue 14): a practice's own (--practice, unsuppressed) or the region's
    (--region, small numbers suppressed as KS_SUPPRESS_BELOW and KS_SUPPRESS_MODE say), in one of the formats of
    service/mirror/export.py FORMATS."""
    from service.db import database_for
    from service.mirror.events import EventStore
    from service.mirror.export import FORMATS
    from service.mirror.figures import Period, build_report

    settings = _settings()
    try:
        Period.parse(args.period)
    except ValueError:
        raise KsError(texts("cli.report.period", period=args.period)) from None
    store = EventStore(database_for(settings, "mirror"), database_for(settings, "mirror_links"))
    region = args.scope_region or (store.region_of(args.practice) if args.practice else None) or settings.region
    report = build_report(
        store,
        scope="practice" if args.practice else "region",
        region=region,
        practice=args.practice,
        periods=(args.period,),
        suppress_below=settings.suppress_below,
        mode="cbs" if settings.suppress_mode == "cbs" else "rivm",
    )
    sys.stdout.write(FORMATS[args.format](report))
    return EXIT_OK


def cmd_db(args) -> int:
    """`kansrijk db upgrade`: the storage layer's migrations (service/db/migrate.py), in KS_DATABASE_URL's database
    (as KS_DATABASE_OWNER_URL's role when set) or in each store's SQLite file under KS_DATA_DIR."""
    from service.db.migrate import upgrade_service

    migrated = upgrade_service(_settings())
    print(text("cli.db.upgraded", branches=", ".join(migrated)) if migrated else text("cli.db.up_to_date"))
    return EXIT_OK


def _add_referral_commands(sub) -> None:
    """The commands that change a referral already made: consent withdrawn, cancel."""
    p = sub.add_parser(
        "consent", help="withdraw the patient's consent for one recipient: withdraw SUBMISSION RECIPIENT"
    )
    p.add_argument("action", choices=("withdraw",))
    p.add_argument("submission")
    p.add_argument("recipient", help="the recipient id, e.g. regiocoordinator-jgz")
    p.set_defaults(func=cmd_consent)
    p = sub.add_parser(
        "cancel",
        help="cancel a referral at its recipient, or take it back from the outbox when it has not gone yet: "
        "SUBMISSION:RECIPIENT (one referral) or SUBMISSION (all of it)",
    )
    p.add_argument(
        "referral", help="a referral (<submission>:<recipient>, e.g. …:regiocoordinator-jgz) or a submission"
    )
    p.add_argument("--reason", required=True, help="why, for the recipient (the Task's statusReason)")
    p.set_defaults(func=cmd_cancel)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kansrijk", description="Kansrijke Start: signalering → verwijzing (FHIR R4)")
    parser.add_argument("--region", help="rule set id (default: KS_REGION or maastricht-heuvelland)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a QuestionnaireResponse against its Questionnaire")
    p.add_argument("file", help="QuestionnaireResponse JSON file, or - for standard input")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("evaluate", help="the decision in plain words: level, recipients, why")
    p.add_argument("file")
    p.add_argument("--lang", choices=("nl", "en"), default="nl")
    p.add_argument("--json", action="store_true", help="print the $evaluate Parameters instead")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("extract", help="the referral transaction Bundle as JSON on stdout (nothing is sent)")
    p.add_argument("file")
    p.set_defaults(func=cmd_extract)
    p = sub.add_parser(
        "submit",
        help="validate, evaluate, store in the outbox and push to each destination's server (KS_DESTINATIONS or "
        "KS_FHIR_BASE_URL); without one it waits in the outbox",
    )
    p.add_argument("file")
    p.set_defaults(func=cmd_submit)
    p = sub.add_parser("outbox", help="the referrals waiting to be pushed: list, show ID, retry [ID]")
    p.add_argument("action", choices=("list", "show", "retry"))
    p.add_argument("id", nargs="?")
    p.add_argument("--state", choices=("pending", "delivered", "dead"))
    p.add_argument("--bundle", action="store_true", help="with show: print the Bundle too")
    p.set_defaults(func=cmd_outbox)
    p = sub.add_parser("audit", help="every access to a patient's data, for an inspection request (NEN 7513)")
    p.add_argument(
        "--patient",
        action="append",
        required=True,
        help="the patient as logged: Patient/<id>, or system|value (e.g. the BSN); repeat for several",
    )
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("db", help="the service's database: upgrade (the schema migrations; also done at start-up)")
    p.add_argument("action", choices=("upgrade",))
    p.set_defaults(func=cmd_db)
    _add_referral_commands(sub)
    _add_report(sub)
    p = sub.add_parser(
        "demo-data", help="load the invented demo practice, patients and recipients into KS_FHIR_BASE_URL"
    )
    p.add_argument(
        "--recipients", action="store_true", help="only the recipient organisations (for a recipients' server)"
    )
    p.set_defaults(func=cmd_demo_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FhirError as exc:
        print(f"FHIR server: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StartupError as exc:  # settings or configuration files with mistakes: the message, every problem
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except KsError as exc:
        return _fail(exc.to_operation_outcome())
    except ValueError as exc:  # settings problems
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except BrokenPipeError:  # `kansrijk extract x.json | head`
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
