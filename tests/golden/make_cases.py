"""Write the golden cases' inputs (and, with --expected, their expected outputs from the current engine).

    .venv/bin/python tests/golden/make_cases.py            # inputs only
    .venv/bin/python tests/golden/make_cases.py --expected # also expected-*.json: REVIEW every diff by hand

Each case is a folder: request.json (or request.txt for a raw body), case.json (how to send it), and
expected-decision.json + expected-bundle.json (valid responses) or expected-outcome.json (bad input).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.factories import make_qr  # noqa: E402

VALID: dict[str, dict] = {
    "level-none-pregnant": dict(signals=()),
    "level-attention-one-other": dict(signals=("single-mother",)),
    "level-vulnerable-pregnant-jgz-routine": dict(signals=("single-mother", "low-education")),
    "level-urgent-pregnant-jgz-urgent": dict(signals=("homeless",)),
    "override-raise-with-reason": dict(
        signals=("single-mother",), override="urgent", override_reason="Grote zorgen na het gesprek"
    ),
    "override-lower-with-reason": dict(
        signals=("intellectual-disability",), override="attention", override_reason="Al in beeld bij de JGZ"
    ),
    "postpartum-child-1y-vulnerable": dict(
        phase="postpartum",
        child_birth_date="2025-11-01",
        signals=("financial-problems", "language-barrier"),
        subject="Patient/demo-child-1y",
    ),
    "postpartum-child-day-before-4th-birthday": dict(
        phase="postpartum", child_birth_date="2022-11-21", signals=("homeless",)
    ),
    "postpartum-child-4th-birthday-outside": dict(
        phase="postpartum", child_birth_date="2022-11-20", signals=("homeless",)
    ),
    "postpartum-child-5y-outside": dict(
        phase="postpartum",
        child_birth_date="2021-06-01",
        signals=("substance-addiction", "single-mother"),
        subject="Patient/demo-child-5y",
    ),
    "complex-two-urgent": dict(signals=("substance-addiction", "psych-problems-current-pregnancy")),
    "complex-one-urgent-two-other": dict(signals=("homeless", "financial-problems", "single-mother")),
    "not-complex-one-urgent-one-other": dict(signals=("homeless", "single-mother")),
    "preconception-intention-no-nnz": dict(
        phase="preconception", intention="no", signals=("substance-addiction",), subject="Patient/demo-preconception"
    ),
    "preconception-intention-unsure-nnz": dict(
        phase="preconception", intention="unsure", signals=("financial-problems", "low-literacy-health-literacy")
    ),
    "preconception-intention-either-nnz": dict(phase="preconception", intention="either", signals=("homeless",)),
    "preconception-intention-unanswered-nnz": dict(
        phase="preconception", intention=None, signals=("intellectual-disability",)
    ),
    "preconception-intention-yes-consult": dict(
        phase="preconception", intention="yes", signals=("unhealthy-lifestyle-mother",)
    ),
    "preconception-attention-no-referral": dict(phase="preconception", intention="no", signals=("single-mother",)),
    "safety-domestic-violence-meldcode": dict(signals=("domestic-violence",), children=2),
    "safety-history-veilig-thuis": dict(signals=("veilig-thuis-involvement",), children=0),
    "safety-history-child-protection-board": dict(
        signals=("child-protection-board-history", "partner-problems"), children=1
    ),
    "no-consent-external-blocked": dict(signals=("homeless",), consent=False),
    "no-consent-internal-poh-allowed": dict(signals=("homeless", "substance-addiction"), consent=False),
    # Internal only: the practice's own Patient/<id> is enough (the POH Jeugd works on the practice's record).
    "internal-only-practice-reference": dict(
        signals=("homeless", "substance-addiction"), consent=False, contained=False
    ),
    "consent-written": dict(signals=("homeless",), consent_method="written"),
    "with-note": dict(
        signals=("single-mother", "unsafe-inadequate-housing"), note="Zoekt hulp bij woning en geldzaken."
    ),
    "no-identifier-content-hash": dict(signals=("homeless",), identifier=None),
    "only-ticked-signals-sent": dict(signals=("homeless", "relationship-problems"), all_signals=False),
    "amended-status": dict(signals=("homeless",), status="amended"),
    "voorbeeldstad-two-other-attention": dict(signals=("single-mother", "financial-problems"), _region="voorbeeldstad"),
    "voorbeeldstad-urgent-two-recipients": dict(signals=("homeless",), _region="voorbeeldstad"),
    "voorbeeldstad-child-3y-outside-window": dict(
        phase="postpartum", child_birth_date="2023-10-01", signals=("homeless",), _region="voorbeeldstad"
    ),
}


def _wrap_parameters(qr: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": "questionnaire-response", "resource": qr}]}


def _mutate(fn):
    qr = make_qr(signals=("homeless",))
    fn(qr)
    return qr


def _item(qr: dict, group: str) -> dict:
    return next(i for i in qr["item"] if i["linkId"] == group)


INVALID: dict[str, tuple[object, dict]] = {
    # name: (request body, case settings)
    "bad-malformed-json": ('{"resourceType": "QuestionnaireResponse", "status": ', {}),
    "bad-not-an-object": ('[{"resourceType": "QuestionnaireResponse"}]', {}),
    "bad-nan-constant": ('{"resourceType": "QuestionnaireResponse", "x": NaN}', {}),
    "bad-wrong-resource-type": ({"resourceType": "Patient", "id": "x"}, {}),
    "bad-wrong-content-type": (make_qr(signals=("homeless",)), {"content_type": "text/plain"}),
    "bad-body-too-large": (None, {"generate": "large"}),
    "bad-absurd-nesting": (None, {"generate": "deep"}),
    "bad-unknown-linkid": (
        _mutate(
            lambda q: _item(q, "other-signals")["item"].append(
                {"linkId": "rich-parents", "answer": [{"valueBoolean": True}]}
            )
        ),
        {},
    ),
    "bad-wrong-answer-type": (
        _mutate(lambda q: _item(q, "urgent-signals")["item"][0].__setitem__("answer", [{"valueString": "ja"}])),
        {},
    ),
    "bad-answer-to-disabled-item": (
        _mutate(
            lambda q: _item(q, "context")["item"].append(
                {"linkId": "child-birth-date", "answer": [{"valueDate": "2025-01-01"}]}
            )
        ),
        {},
    ),
    "bad-code-outside-answeroption": (
        _mutate(lambda q: _item(q, "context")["item"][0]["answer"][0]["valueCoding"].__setitem__("code", "menopause")),
        {},
    ),
    "bad-missing-required": (
        _mutate(lambda q: (_item(q, "context")["item"].pop(0), _item(q, "consent")["item"].clear())),
        {},
    ),
    "bad-unknown-questionnaire": (
        _mutate(lambda q: q.__setitem__("questionnaire", "https://example.org/Questionnaire/other|9")),
        {},
    ),
    "bad-override-without-reason": (make_qr(signals=("homeless",), override="none"), {}),
    "bad-two-answers-not-repeating": (
        _mutate(lambda q: _item(q, "urgent-signals")["item"][6]["answer"].append({"valueBoolean": False})),
        {},
    ),
    "bad-invalid-date": (
        _mutate(lambda q: _item(q, "context")["item"][1]["answer"][0].__setitem__("valueDate", "2027-02-30x")),
        {},
    ),
    "bad-no-subject": (_mutate(lambda q: q.pop("subject")), {}),
    # An external referral that names the patient only by the practice's Patient/<id>: its recipient cannot know her.
    "bad-external-referral-without-patient": (make_qr(signals=("homeless",), contained=False), {}),
    "bad-in-progress-not-extracted": (make_qr(signals=("homeless",), status="in-progress"), {}),
    "bad-parameters-without-response": (
        {"resourceType": "Parameters", "parameter": [{"name": "other", "valueString": "x"}]},
        {},
    ),
}


def write_inputs() -> list[Path]:
    dirs = []
    for name, kw in VALID.items():
        kw = dict(kw)
        region = kw.pop("_region", None)
        d = HERE / name
        d.mkdir(exist_ok=True)
        (d / "request.json").write_text(json.dumps(make_qr(**kw), indent=2, ensure_ascii=False) + "\n")
        (d / "case.json").write_text(json.dumps({"region": region} if region else {}, indent=2) + "\n")
        dirs.append(d)
    d = HERE / "parameters-wrapped-input"
    d.mkdir(exist_ok=True)
    (d / "request.json").write_text(
        json.dumps(_wrap_parameters(make_qr(signals=("homeless",), identifier="wrapped-1")), indent=2) + "\n"
    )
    (d / "case.json").write_text("{}\n")
    dirs.append(d)
    for name, (body, case) in INVALID.items():
        d = HERE / name
        d.mkdir(exist_ok=True)
        for old in d.glob("request.*"):
            old.unlink()
        if isinstance(body, str):
            (d / "request.txt").write_text(body)
        elif body is not None:
            (d / "request.json").write_text(json.dumps(copy.deepcopy(body), indent=2, ensure_ascii=False) + "\n")
        (d / "case.json").write_text(json.dumps(case, indent=2) + "\n")
        dirs.append(d)
    return dirs


def write_expected(dirs: list[Path]) -> None:
    from tests.golden.runner import run_case

    for d in dirs:
        result = run_case(d)
        for old in d.glob("expected-*.json"):
            old.unlink()
        for name, value in result.items():
            (d / f"expected-{name}.json").write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    cases = write_inputs()
    if "--expected" in sys.argv:
        write_expected(cases)
    print(f"{len(cases)} cases in {HERE}")
