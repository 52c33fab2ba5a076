"""Fuzzing the FHIR API and the engine (issue 11, "Must show 5"): seeded (hypothesis, derandomized) and bounded.

Real responses (tests/factories.py, every tests/golden/*/request.json) and a real $populate body, broken:
type confusion at every node (each value replaced by {} / [] / a number / a boolean / null / a string: at every
node of two factory responses, one with its patient contained, and of the $populate body; at drawn nodes of every
golden one), nodes removed, numbers beyond float (1e999, -1e999, 1e-999, 10**400 as a JSON integer), lone
surrogate escapes, NUL and other control characters in strings, deep nesting, a key twice in one object, any
bytes under any content type. The properties:

1. every answer of every POST operation ($validate, $evaluate, $extract, submit, $populate) is 2xx or 4xx;
2. every 4xx is an OperationOutcome, `application/fhir+json`;
3. every 2xx body is strict JSON (no bare Infinity or NaN), `application/fhir+json`;
4. what JSON allows but FHIR JSON does not (the list above but deep nesting within the limit) is a 400;
5. the engine called directly (Engine.validate, evaluate, extract: what the endpoints call) raises only the
   service's own KsError family, never TypeError, KeyError, AttributeError, ...

Hypothesis runs derandomized (the same examples every run, no example database) without deadlines; the file takes
about 30 s on two cores. KS_FUZZ_SCALE=10 multiplies the examples for a longer hunt.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from service import create_app
from service.errors import KsError
from tests.factories import make_qr, with_patient

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FHIR = {"Content-Type": "application/fhir+json"}
QR_OPS = ("/fhir/QuestionnaireResponse/$validate", "/fhir/QuestionnaireResponse/$evaluate")
QR_OPS += ("/fhir/QuestionnaireResponse/$extract", "/fhir/QuestionnaireResponse")
POPULATE = "/fhir/Questionnaire/$populate"
SENTINEL = "__fuzz_sentinel__"  # replaced in the JSON text by a raw fragment

SCALE = max(1, int(os.environ.get("KS_FUZZ_SCALE", "1")))
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# One of each JSON type (numbers: 0, which lax models read as a date or a time too, and others), for the
# exhaustive type confusion.
CONFUSION = [{}, [], 0, 7, 1.5, True, None, "x"]
ODD = [
    *CONFUSION,
    -1,
    False,
    "",
    "2027-02-30",
    "2027",
    [None],
    [{}],
    [[]],
    {"a": 1},
    {"reference": 7},
    {"reference": {}},
    {"system": {}, "code": []},
    {"coding": [{"code": 5}]},
    "ü" * 3000,
    "\t\n\r",
    "\ud83d\ude00",
]
# Values a caller of the engine could pass that JSON (as the API reads it) cannot.
ENGINE_ONLY = [float("inf"), float("-inf"), float("nan"), 10**400, "\ud800", "a\udfffb", "\x00", "x\x1fy"]
# Raw JSON fragments that FHIR JSON refuses (property 4), and some it accepts.
REFUSED = [
    "1e999",
    "-1e999",
    "1e-999",
    "1" + "0" * 400,
    "-" + "9" * 400,
    "1" + "0" * 5000,
    "NaN",
    "-Infinity",
    '"\\ud800"',
    '"a\\udc00b"',
    '"\\udbff"',
    '"\\u0000"',
    '"x\\u001fy"',
    '"\\u000b"',
    "[" * 70 + "]" * 70,
    "[" * 100_000 + "]" * 100_000,
    '{"resourceType": "A", "resourceType": "B"}',
    '{"a": {"b": 1, "b": 1}}',
]
ACCEPTED = ['"\\ud83d\\ude00"', '"tab\\tline\\nreturn\\r"', "1e308", "-0.0", "0e-999", "1" + "0" * 300, '"\\\\u0000"']


def _json_strict(text: str):
    def refuse(name):
        raise ValueError(f"{name} in a 2xx body: not JSON")

    return json.loads(text, parse_constant=refuse)


def problem(r, what: str) -> str | None:
    """What breaks properties 1-3 in one answer, or None."""
    body = r.get_data(as_text=True)
    if not (200 <= r.status_code < 300 or 400 <= r.status_code < 500):
        return f"{what}: {r.status_code} {body[:160]}"
    if r.mimetype != "application/fhir+json":
        return f"{what}: {r.status_code} as {r.mimetype}"
    try:
        data = _json_strict(body)
    except ValueError as exc:
        return f"{what}: {r.status_code} not JSON ({exc}): {body[:160]}"
    if r.status_code >= 400 and not (
        isinstance(data, dict)
        and data.get("resourceType") == "OperationOutcome"
        and data.get("issue")
        and all(i.get("severity") and i.get("code") for i in data["issue"])
    ):
        return f"{what}: {r.status_code} not an OperationOutcome: {body[:160]}"
    return None


def check_answer(r, what: str) -> None:
    found = problem(r, what)
    assert found is None, found


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*path, i))


def _replaced(doc, path, value):
    if not path:
        return copy.deepcopy(value)
    doc = copy.deepcopy(doc)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = copy.deepcopy(value)
    return doc


def _removed(doc, path):
    doc = copy.deepcopy(doc)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return doc


def _rich_qr() -> dict:
    qr = make_qr(signals=("homeless", "single-mother"), note="n", override="urgent", override_reason="r", children=1)
    return with_patient(qr)


def _golden_bodies() -> list[tuple[str, dict]]:
    return [(p.parent.name, json.loads(p.read_text())) for p in sorted(GOLDEN.glob("*/request.json"))]


def _inner_qr(body: dict) -> dict | None:
    if body.get("resourceType") == "Parameters":
        return next((p["resource"] for p in body.get("parameter", []) if "resource" in p), None)
    return body


def _populate_body() -> dict:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "2009-05-05", "gender": "female"}
    condition = {
        "resourceType": "Condition",
        "id": "preg-p1",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "77386006"}]},
        "subject": {"reference": "Patient/p1"},
    }
    due = {
        "resourceType": "Observation",
        "id": "edd",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "11778-8"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-09-01",
        "valueDateTime": "2027-03-01",
    }
    record = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": condition}, {"resource": due}]}
    return {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "questionnaire",
                "valueUri": "https://kansrijke-start.github.io/fhir/Questionnaire/kansrijke-start-signalering|1.0.0",
            },
            {"name": "subject", "valueReference": {"reference": "Patient/p1"}},
            {
                "name": "context",
                "part": [{"name": "name", "valueString": "patient"}, {"name": "content", "resource": patient}],
            },
            {
                "name": "context",
                "part": [{"name": "name", "valueString": "record"}, {"name": "content", "resource": record}],
            },
            {"name": "data", "resource": copy.deepcopy(record)},
        ],
    }


RICH = _rich_qr()  # its patient contained
PLAIN = make_qr(signals=("domestic-violence", "low-education"), children=2)  # its patient a literal reference
BODIES = [("rich", RICH), ("plain", PLAIN), *_golden_bodies()]
QRS = [(name, qr) for name, body in BODIES if isinstance(qr := _inner_qr(body), dict)]
POPULATE_BODY = _populate_body()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return create_app({"TESTING": True, "data_dir": tmp_path_factory.mktemp("fuzz")}).test_client()


def _post(client, url: str, body: str | bytes, headers=FHIR):
    return client.post(url, data=body, headers=headers)


# ── type confusion at every node of a real response, every operation ──────────────────────────────────────


@pytest.mark.parametrize("url", [*QR_OPS, POPULATE])
def test_type_confusion_at_every_node_never_a_server_error(client, url):
    failures = []
    for name, base in [("populate", POPULATE_BODY)] if url == POPULATE else [("rich", RICH), ("plain", PLAIN)]:
        for path in _paths(base):
            for value in CONFUSION:
                r = _post(client, url, json.dumps(_replaced(base, path, value)))
                if found := problem(r, f"{name}: {list(path)} := {value!r}"):
                    failures.append(found)
    assert not failures, f"{len(failures)} answer(s) of {url} broke the properties:\n" + "\n".join(failures[:20])


@pytest.mark.parametrize("kind", ["json", "beyond json"])
def test_type_confusion_at_every_node_engine_raises_only_ks_errors(engine, kind):
    """Every JSON type at every node; and what a caller of the engine can pass that JSON cannot (infinity, NaN,
    10**400, a lone surrogate)."""
    values = CONFUSION if kind == "json" else [float("inf"), float("nan"), 10**400, "a\ud800"]
    failures = []
    for name, base in (("rich", RICH), ("plain", PLAIN)):
        for path in _paths(base):
            for value in values:
                failures += _engine_failures(
                    engine, _replaced(base, path, value), f"{name}: {list(path)} := {value!r:.20}"
                )
    assert not failures, _by_site(failures)


def _by_site(failures: list[tuple[str, str]]) -> str:
    """The failures grouped by where they were raised: the count and the first reproducer of each."""
    sites: dict[str, list[str]] = {}
    for site, what in failures:
        sites.setdefault(site, []).append(what)
    lines = [f"{len(failures)} call(s) raised outside KsError, at {len(sites)} place(s):"]
    lines += [f"  {site}: {len(whats)}x, e.g. {whats[0]}" for site, whats in sites.items()]
    return "\n".join(lines)


def _engine_failures(engine, qr, what: str) -> list[tuple[str, str]]:
    failures = []
    calls = (
        ("validate", lambda: engine.validate(qr)),
        ("evaluate", lambda: engine.evaluate(qr)),
        ("extract", lambda: engine.extract(qr)),  # $extract
        ("extract(structural)", lambda: engine.extract(qr, structural=True)),  # a submission
    )
    for name, call in calls:
        try:
            call()
        except KsError:
            pass
        except Exception as exc:  # the property: nothing but KsError
            failures.append((f"{type(exc).__name__} at {_where(exc)}", f"{name} {what}: {str(exc)[:100]}"))
    return failures


def _where(exc: BaseException) -> str:
    """The innermost frame in service/ (and the innermost of all, when that is elsewhere)."""
    frames, ours = [], "outside service/"
    tb = exc.__traceback__
    while tb:
        frames.append(f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}")
        if "/service/" in tb.tb_frame.f_code.co_filename:
            ours = frames[-1]
        tb = tb.tb_next
    return ours if ours == frames[-1] else f"{ours} (in {frames[-1]})"


# ── random mutations of every golden response (hypothesis) ─────────────────────────────────────────────────

values = st.one_of(
    st.sampled_from(ODD),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=6,
    ),
)


def _mutated(data, doc, values_strategy=values):
    """`doc` with 1 to 3 of its nodes replaced by a drawn value, or removed."""
    paths = list(_paths(doc))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(paths), label="path")
        try:
            if path and data.draw(st.integers(0, 4), label="remove?") == 0:
                doc = _removed(doc, path)
            else:
                doc = _replaced(doc, path, data.draw(values_strategy, label="value"))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation took the path away
    return doc


@settings(FUZZ, max_examples=1500 * SCALE)
@given(data=st.data())
def test_mutated_golden_responses_never_a_server_error(client, data):
    name, body = data.draw(st.sampled_from(BODIES), label="golden")
    doc = _mutated(data, body)
    url = data.draw(st.sampled_from(QR_OPS), label="operation")
    region = data.draw(st.sampled_from(["", "?region=voorbeeldstad", "?region=nergens", "?region=%00"]), label="region")
    text = json.dumps(doc)
    note(f"{name}: {text[:2000]}")
    check_answer(_post(client, url + region, text), f"{url}{region} {name}")


@settings(FUZZ, max_examples=600 * SCALE)
@given(data=st.data())
def test_mutated_populate_never_a_server_error(client, data):
    text = json.dumps(_mutated(data, POPULATE_BODY))
    note(text[:2000])
    check_answer(_post(client, POPULATE, text), POPULATE)


@settings(FUZZ, max_examples=800 * SCALE)
@given(data=st.data())
def test_engine_raises_only_ks_errors(engine, data):
    name, qr = data.draw(st.sampled_from(QRS), label="golden")
    doc = _mutated(data, qr, st.one_of(values, st.sampled_from(ENGINE_ONLY)))
    note(f"{name}: {doc!r:.2000}")
    failures = _engine_failures(engine, doc, name)
    assert not failures, _by_site(failures)


# ── what JSON allows and FHIR JSON does not: 400 wherever it is ──────────────────────────────────────────────


def _with_fragment(data, body: dict, fragment: str) -> str:
    """The JSON text of `body` with the raw `fragment` at a drawn node (the whole body, too)."""
    path = data.draw(st.sampled_from(list(_paths(body))), label="path")
    return json.dumps(_replaced(body, path, SENTINEL)).replace(json.dumps(SENTINEL), fragment, 1)


@settings(FUZZ, max_examples=600 * SCALE)
@given(data=st.data())
def test_what_fhir_json_refuses_is_a_400_anywhere(client, data):
    fragment = data.draw(st.sampled_from(REFUSED), label="fragment")
    if data.draw(st.booleans(), label="populate?"):
        url, text = POPULATE, _with_fragment(data, POPULATE_BODY, fragment)
    else:
        _, body = data.draw(st.sampled_from(BODIES), label="golden")
        url, text = data.draw(st.sampled_from(QR_OPS), label="operation"), _with_fragment(data, body, fragment)
    note(f"{url}: {text[:1000]}")
    r = _post(client, url, text)
    check_answer(r, url)
    assert r.status_code == 400, (r.status_code, r.get_data(as_text=True)[:300])


@settings(FUZZ, max_examples=200 * SCALE)
@given(data=st.data())
def test_what_fhir_json_accepts_is_not_refused_for_its_syntax(client, data):
    """The valid neighbours of REFUSED (a surrogate pair, tab/LF/CR, the largest finite numbers, an escaped
    backslash before u0000) are read: whatever the answer, it does not blame the JSON."""
    fragment = data.draw(st.sampled_from(ACCEPTED), label="fragment")
    _, body = data.draw(st.sampled_from(BODIES), label="golden")
    url = data.draw(st.sampled_from(QR_OPS), label="operation")
    r = _post(client, url, _with_fragment(data, body, fragment))
    check_answer(r, url)
    text = r.get_data(as_text=True)
    for refusal in ("duplicate", "twee keer", "surrogaat", "stuurteken", "kan deze service niet weergeven"):
        assert refusal not in text, (fragment, text[:300])


@settings(FUZZ, max_examples=300 * SCALE)
@given(
    content_type=st.sampled_from(
        ["application/fhir+json", "application/json; charset=utf-8", "text/plain", "", "application/fhir+xml"]
    ),
    body=st.binary(max_size=64) | st.sampled_from([b"\xed\xa0\x80", b"\xff\xfe{}", b"{}", b"[]", b"null", b'"x"']),
    url=st.sampled_from([*QR_OPS, POPULATE]),
)
def test_any_bytes_any_content_type_never_a_server_error(client, content_type, body, url):
    check_answer(_post(client, url, body, {"Content-Type": content_type} if content_type else {}), url)


# ── each fix, on its own ───────────────────────────────────────────────────────────────────────────────────


def _outcome(r, status: int = 400) -> str:
    assert r.status_code == status and r.mimetype == "application/fhir+json", (r.status_code, r.get_data()[:300])
    outcome = r.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    return " ".join(i["diagnostics"] + " " + json.dumps(i.get("expression", [])) for i in outcome["issue"])


def test_a_key_twice_in_one_object_is_a_400_naming_it(client):
    text = json.dumps(make_qr()).replace('"status": "completed"', '"status": "completed", "status": "amended"')
    assert "'status' komt twee keer voor" in _outcome(_post(client, QR_OPS[0], text))
    text = '{"resourceType": "QuestionnaireResponse", "resourceType": "Patient"}'
    assert "'resourceType'" in _outcome(_post(client, QR_OPS[2], text))


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1E400", "1e-999", "-2.5e-400", "1" + "0" * 400])
def test_a_number_beyond_a_decimal_is_a_400_never_infinity(client, number):
    qr = make_qr()
    qr["item"].append({"linkId": "children", "answer": [{"valueDecimal": SENTINEL}]})
    text = json.dumps(qr).replace(json.dumps(SENTINEL), number)
    for url in QR_OPS:
        assert "kan deze service niet weergeven" in _outcome(_post(client, url, text))


@pytest.mark.parametrize("number", ["1e308", "0.0", "-0e-999", "1" + "0" * 300, "12345678901234567890"])
def test_numbers_a_decimal_holds_are_read(client, number):
    qr = make_qr()
    qr["item"][1]["item"][0]["answer"] = [{"valueDecimal": SENTINEL}]
    r = _post(client, QR_OPS[0], json.dumps(qr).replace(json.dumps(SENTINEL), number))
    assert r.status_code == 200 and "weergeven" not in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "escape,words",
    [
        ("\\ud800", "losse surrogaat (U+D800)"),
        ("abc\\udfff", "losse surrogaat (U+DFFF)"),
        ("\\u0000", "stuurteken (U+0000)"),
        ("a\\u001bb", "stuurteken (U+001B)"),
    ],
)
def test_a_string_that_is_not_fhir_text_is_a_400_with_its_location(client, escape, words):
    qr = make_qr(note=SENTINEL)
    text = json.dumps(qr).replace(SENTINEL, escape)
    for url in QR_OPS:
        found = _outcome(_post(client, url, text))
        assert words in found and "QuestionnaireResponse.item[" in found and "].answer[0].valueString" in found
    text = json.dumps(make_qr()).replace('"linkId"', f'"link{escape}Id"', 1)
    assert words in _outcome(_post(client, QR_OPS[0], text))


def test_a_surrogate_pair_tab_and_newlines_are_fhir_text(client):
    text = json.dumps(make_qr(note=SENTINEL)).replace(SENTINEL, "\\ud83d\\ude00 tab\\t lf\\n cr\\r \\\\u0000")
    r = _post(client, QR_OPS[2], text)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]


@pytest.mark.parametrize("parameter", [5, True, "questionnaire-response", None, {"name": "x"}, [[]]])
def test_a_parameters_body_whose_parameter_is_not_an_array_of_objects_is_a_400(client, parameter):
    for url in (*QR_OPS, POPULATE):
        found = _outcome(_post(client, url, json.dumps({"resourceType": "Parameters", "parameter": parameter})))
        assert "Parameters.parameter moet een JSON-array zijn" in found or "parameter[0] moet een JSON-object" in found
        if not isinstance(parameter, dict):
            body = {"resourceType": "Parameters", "parameter": [{"name": "subject"}, parameter]}
            assert "Parameters.parameter[1] moet een JSON-object zijn" in _outcome(_post(client, url, json.dumps(body)))


@pytest.mark.parametrize("part", [3, False, "x", {"name": "content"}, [7]])
def test_a_populate_part_or_bundle_entry_that_is_not_an_array_of_objects_is_a_400(client, part):
    body = copy.deepcopy(POPULATE_BODY)
    body["parameter"][2]["part"] = part
    assert "Parameters.parameter[2].part" in _outcome(_post(client, POPULATE, json.dumps(body)))
    body = copy.deepcopy(POPULATE_BODY)
    body["parameter"][4]["resource"]["entry"] = part
    assert "Parameters.parameter[4].resource.entry" in _outcome(_post(client, POPULATE, json.dumps(body)))


@pytest.mark.parametrize(
    "param",
    [
        {"name": "questionnaire", "valueUri": 5},
        {"name": "questionnaire", "valueCanonical": {}},
        {"name": "questionnaire", "valueReference": {"reference": 7}},
        {"name": "questionnaire", "resource": {"resourceType": "Questionnaire", "url": []}},
        {"name": "questionnaire"},
    ],
)
def test_populate_with_a_questionnaire_that_is_no_canonical_is_a_400(client, param):
    body = copy.deepcopy(POPULATE_BODY)
    body["parameter"][0] = param
    assert "questionnaire" in _outcome(_post(client, POPULATE, json.dumps(body)))


@pytest.mark.parametrize(
    "where,value,location",
    [
        ((2, "part", 1, "resource", "birthDate"), {}, "Parameters.parameter[2].part[1].resource.birthDate"),
        (
            (4, "resource", "entry", 0, "resource", "subject"),
            7,
            "Parameters.parameter[4].resource.entry[0].resource.subject",
        ),
        ((4, "resource", "entry", 1, "resource", "code", "coding"), True, "Parameters.parameter[4].resource.entry[1]"),
        # the model reads 0 as the date 1970-01-01; FHIR JSON has dates as strings (the SDC evaluator crashed on it)
        (
            (2, "part", 1, "resource", "birthDate"),
            0,
            "Parameters.parameter[2].part[1].resource.birthDate moet een JSON-string",
        ),
        (
            (4, "resource", "entry", 1, "resource", "valueDateTime"),
            0,
            "entry[1].resource.valueDateTime moet een JSON-string",
        ),
    ],
)
def test_populate_with_a_resource_that_is_not_valid_fhir_is_a_400_with_its_location(client, where, value, location):
    body = _replaced(POPULATE_BODY, ("parameter", *where), value)
    found = _outcome(_post(client, POPULATE, json.dumps(body)))
    assert "Ongeldig FHIR-element" in found and location in found, found
