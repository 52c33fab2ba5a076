"""Run one golden case through the API and reduce the answers to what the expected files hold."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from service import create_app

_CLIENT = None


def client():
    global _CLIENT
    if _CLIENT is None:
        # Its own data folder: a test run writes nothing into the checkout.
        _CLIENT = create_app({"TESTING": True, "data_dir": tempfile.mkdtemp(prefix="ks-golden-")}).test_client()
    return _CLIENT


def request_body(case_dir: Path, case: dict) -> bytes:
    generate = case.get("generate")
    if generate == "large":  # just over 1 MB, otherwise a fine response
        return b'{"resourceType": "QuestionnaireResponse", "pad": "' + b"x" * 1_000_100 + b'"}'
    if generate == "deep":  # 10,000 nested arrays: absurd nesting
        return b'{"resourceType": "QuestionnaireResponse", "item": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    for name in ("request.json", "request.txt"):
        if (case_dir / name).exists():
            return (case_dir / name).read_bytes()
    raise FileNotFoundError(f"{case_dir} has no request")


def compact_decision(parameters: dict) -> dict:
    """The $evaluate Parameters reduced to what a reviewer checks against DOMAIN.md A2."""
    out: dict = {"safety": [], "recommendations": []}
    for p in parameters["parameter"]:
        name = p["name"]
        if name in ("level", "computedLevel"):
            out[name] = p["valueCoding"]["code"]
        elif name in ("safetyFlag", "consentGiven", "consentMissing"):
            out[name] = p["valueBoolean"]
        elif name == "safety":
            out["safety"].append(next(x["valueCode"] for x in p["part"] if x["name"] == "panel"))
        elif name == "recommendation":
            parts = p["part"]
            rec = {
                "rule": next(x["valueString"] for x in parts if x["name"] == "rule"),
                "status": next(x["valueCode"] for x in parts if x["name"] == "status"),
            }
            for x in parts:
                if x["name"] == "recipientId":
                    rec["recipient"] = x["valueString"]
                elif x["name"] == "priority":
                    rec["priority"] = x["valueCode"]
            rec["reasons"] = [
                next(y["valueString"] for y in x["part"] if y["name"] == "linkId")
                for x in parts
                if x["name"] == "reason"
            ]
            out["recommendations"].append(rec)
        elif name == "ruleset":
            out["ruleset"] = p["valueString"]
    return out


def run_case(case_dir: Path) -> dict:
    """{'decision', 'bundle'} for a response the service accepts, {'outcome'} for one it refuses."""
    case = json.loads((case_dir / "case.json").read_text())
    body = request_body(case_dir, case)
    headers = {"Content-Type": case.get("content_type", "application/fhir+json")}
    query = f"?region={case['region']}" if case.get("region") else ""
    c = client()
    extract = c.post(f"/fhir/QuestionnaireResponse/$extract{query}", data=body, headers=headers)
    if extract.status_code != 200:
        outcome = extract.get_json()
        return {
            "outcome": {
                "status": extract.status_code,
                "contentType": extract.mimetype,
                "issues": [
                    {"severity": i["severity"], "code": i["code"], "expression": i.get("expression", [])}
                    for i in outcome["issue"]
                ],
            }
        }
    evaluate = c.post(f"/fhir/QuestionnaireResponse/$evaluate{query}", data=body, headers=headers)
    return {"decision": compact_decision(evaluate.get_json()), "bundle": extract.get_json()}
