"""The HL7 reference validator (HAPI's FhirInstanceValidator, tests/validator/) over every artefact, offline.

One JVM run validates our conformance resources (service/data/questionnaires/), every golden
QuestionnaireResponse (against OUR Questionnaire, resolved by canonical url), every transaction Bundle of every
golden $extract answer (each with its entries), the $populate answer for each demo patient (the in-progress
response with the patient contained, as an HIS gets it) and the negative controls in tests/validator/negative/. Full
results: tests/artifacts/hl7-validator/results.json; the warnings: warnings.txt next to it. Zero errors; each
warning explained in tests/validator/expected-warnings.yaml (tests/validator/README.md says why each is kept).
Built by `make validator-deps`; without Java or the build the tests fail saying so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from service.config import QUESTIONNAIRES

ROOT = Path(__file__).resolve().parents[1]
VALIDATOR = ROOT / "tests" / "validator"
JAR = VALIDATOR / "target" / "ks-reference-validator.jar"
CLASSPATH = VALIDATOR / "target" / "classpath.txt"
NEGATIVE = VALIDATOR / "negative"
GOLDEN = ROOT / "tests" / "golden"
ARTIFACTS = ROOT / "tests" / "artifacts" / "hl7-validator"
BLOCKING = ("error", "fatal")


def _transactions() -> list[Path]:
    """Each transaction Bundle of each golden $extract answer, written out as a file of its own."""
    out_dir = ARTIFACTS / "inputs"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    paths = []
    for expected in sorted(GOLDEN.glob("*/expected-bundle.json")):
        extraction = json.loads(expected.read_text())
        for i, entry in enumerate(extraction["entry"]):
            path = out_dir / f"{expected.parent.name}-{i}.json"
            path.write_text(json.dumps(entry["resource"], ensure_ascii=False, indent=2))
            paths.append(path)
    return paths


def _populated(tmp: Path) -> list[Path]:
    """The service's own $populate answer for each demo patient, her record given as context (no server)."""
    from datetime import date

    from service import create_app
    from service.demo import DEMO_PATIENTS, demo_resources

    app = create_app({"TESTING": True, "data_dir": tmp})
    engine = app.extensions["ks"].engine
    record = demo_resources(engine.ruleset(), date.today())
    out_dir = ARTIFACTS / "populated"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    paths = []
    for pid in DEMO_PATIENTS:
        patient = next(r for r in record if r["resourceType"] == "Patient" and r["id"] == pid)
        mine = [r for r in record if (r.get("subject") or {}).get("reference") == f"Patient/{pid}"]
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in mine]}
        params = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "subject", "valueReference": {"reference": f"Patient/{pid}"}},
                {
                    "name": "context",
                    "part": [{"name": "name", "valueString": "patient"}, {"name": "content", "resource": patient}],
                },
                {
                    "name": "context",
                    "part": [{"name": "name", "valueString": "record"}, {"name": "content", "resource": bundle}],
                },
            ],
        }
        answer = app.test_client().post("/fhir/Questionnaire/kansrijke-start-signalering/$populate", json=params)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
        [response] = [p["resource"] for p in answer.get_json()["parameter"] if p["name"] == "response"]
        assert response["subject"] == {"reference": "#patient"}, pid  # the patient travels with it
        path = out_dir / f"{pid}.json"
        path.write_text(json.dumps(response, ensure_ascii=False, indent=2))
        paths.append(path)
    return paths


def _inputs(tmp: Path) -> dict[str, list[Path]]:
    return {
        "conformance": sorted(Path(QUESTIONNAIRES).glob("*.json")),
        # The responses the service accepts (the bad-* cases are refused on purpose, and are no FHIR to speak of)
        "responses": sorted(p.parent / "request.json" for p in GOLDEN.glob("*/expected-bundle.json")),
        "bundles": _transactions(),
        "populated": _populated(tmp),
        "negative": sorted(NEGATIVE.glob("*.json")),
    }


def _built() -> None:
    if shutil.which("java") is None:
        pytest.fail("Java is missing: the HL7 reference validator needs a JRE 17+ (and Maven: make validator-deps)")
    if not JAR.exists() or not CLASSPATH.exists():
        pytest.fail(f"the reference validator is not built ({JAR.relative_to(ROOT)}): run `make validator-deps`")
    sources = [VALIDATOR / "pom.xml", *VALIDATOR.glob("src/**/*.java")]
    if max(p.stat().st_mtime for p in sources) > JAR.stat().st_mtime:
        pytest.fail("the reference validator's build is older than its sources: run `make validator-deps`")


@pytest.fixture(scope="module")
def validation(tmp_path_factory) -> dict:
    """{'inputs': by kind, 'results': by file, 'seconds': the JVM's wall time} of the one JVM run."""
    _built()
    inputs = _inputs(tmp_path_factory.mktemp("populate"))
    files = [p.resolve() for paths in inputs.values() for p in paths]
    listing = ARTIFACTS / "files.txt"
    listing.write_text("".join(f"{p}\n" for p in files))
    out = ARTIFACTS / "results.json"
    out.unlink(missing_ok=True)
    classpath = f"{JAR}:{CLASSPATH.read_text().strip()}"
    command = ["java", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", classpath]
    command += ["nl.kansrijkestart.validator.Main", "--conformance", str(QUESTIONNAIRES)]
    command += ["--out", str(out), "--list", str(listing)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    seconds = time.monotonic() - started
    assert done.returncode == 0, f"the validator stopped with {done.returncode}:\n{done.stderr[-3000:]}"
    results = json.loads(out.read_text())
    by_file = {Path(f["file"]): f["messages"] for f in results["files"]}
    return {"inputs": inputs, "results": by_file, "seconds": seconds, "run": results}


def _where(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _blocking(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["severity"] in BLOCKING]


def test_every_artefact_was_validated(validation):
    inputs, results = validation["inputs"], validation["results"]
    assert set(results) == {p.resolve() for paths in inputs.values() for p in paths}
    assert len(inputs["conformance"]) >= 28 and len(inputs["responses"]) >= 30
    assert len(inputs["bundles"]) > len(inputs["responses"])  # the practice's record and each delivery
    assert len(inputs["populated"]) == 4  # one per demo patient
    assert validation["run"]["conformanceResources"] == len(inputs["conformance"])  # each found by its url


def test_no_errors(validation):
    found = [
        f"{_where(path)}: {m['location']}: {m['message']}"
        for kind in ("conformance", "responses", "bundles", "populated")
        for path in validation["inputs"][kind]
        for m in _blocking(validation["results"][path.resolve()])
    ]
    assert not found, "the HL7 validator found errors:\n" + "\n".join(found)


def test_the_negative_controls_are_caught(validation):
    """Bad copies of what we make: the validator must see an unknown item of OUR Questionnaire, a wrong type in
    OUR extension and a wrong context in an extension definition, or the zero above says nothing."""
    expected = yaml.safe_load((NEGATIVE / "expected-errors.yaml").read_text())
    assert sorted(expected) == sorted(p.name for p in validation["inputs"]["negative"])
    for name, ids in expected.items():
        seen = {m["messageId"] for m in _blocking(validation["results"][(NEGATIVE / name).resolve()])}
        assert set(ids) <= seen, f"{name}: expected {ids}, the validator reported {sorted(seen)}"


def _explained() -> list[dict]:
    entries = yaml.safe_load((VALIDATOR / "expected-warnings.yaml").read_text())
    for entry in entries:
        assert entry.get("why", "").strip(), f"no reason given for {entry}"
        entry["_message"] = re.compile(entry["message"])
        entry["_files"] = re.compile(entry.get("files", ".*"))
    return entries


def _explaining(entries: list[dict], message: dict, where: str) -> set[int]:
    """The entries of expected-warnings.yaml that explain this warning on this file."""
    return {
        i
        for i, e in enumerate(entries)
        if e["id"] == message["messageId"] and e["_message"].search(message["message"]) and e["_files"].search(where)
    }


def test_every_warning_is_explained(validation):
    entries, lines, unexplained = _explained(), [], []
    used: set[int] = set()
    for kind in ("conformance", "responses", "bundles", "populated"):
        for path in validation["inputs"][kind]:
            for m in validation["results"][path.resolve()]:
                if m["severity"] != "warning":
                    continue
                line = f"{_where(path)}\t{m['location']}\t{m['messageId']}\t{m['message']}"
                lines.append(line)
                hits = _explaining(entries, m, _where(path))
                used |= hits
                if not hits:
                    unexplained.append(line)
    (ARTIFACTS / "warnings.txt").write_text("".join(f"{line}\n" for line in lines))
    assert not unexplained, "warnings not explained in tests/validator/expected-warnings.yaml:\n" + "\n".join(
        unexplained
    )
    stale = [e["message"] for i, e in enumerate(entries) if i not in used]
    assert not stale, f"expected-warnings.yaml explains warnings that no longer occur: {stale}"
