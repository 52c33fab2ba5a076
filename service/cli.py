"""`kansrijk`: validate, evaluate and extract QuestionnaireResponses from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from service.api.fhirjson import parse_fhir_json, unwrap_parameter
from service.errors import ConfigurationInvalid, Issue, KsError, operation_outcome

EXIT_OK, EXIT_INVALID, EXIT_CONFIG = 0, 2, 3


def _engine(args):
    from service import __version__
    from service.config import load_settings
    from service.referrals.pipeline import Engine

    settings = load_settings()
    return Engine.from_folders(settings.questionnaires_dir, settings.mappings_dir, args.region or settings.region, __version__)


def _read(path: str) -> dict:
    try:
        body = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise KsError(f"Kan {path} niet lezen: {exc.strerror}.", english=f"Cannot read {path}: {exc.strerror}.") from None
    data = parse_fhir_json(body, "application/fhir+json", max_depth=64)
    return unwrap_parameter(data, ("questionnaire-response", "questionnaireResponse", "resource"), "QuestionnaireResponse")


def _fail(outcome: dict) -> int:
    json.dump(outcome, sys.stderr, ensure_ascii=False, indent=2)
    sys.stderr.write("\n")
    return EXIT_INVALID


def cmd_validate(args) -> int:
    result = _engine(args).validate(_read(args.file))
    if not result.ok:
        return _fail(operation_outcome(list(result.issues)))
    print(f"{args.file}: geldig / valid ({result.questionnaire.canonical})")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KsError as exc:
        return _fail(exc.to_operation_outcome())
    except ConfigurationInvalid as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except ValueError as exc:  # settings problems
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except BrokenPipeError:  # `kansrijk extract x.json | head`
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
