"""Delivery per destination, over real servers: every destination a sekmet-fhir instance of its own on loopback,
named in a KS_DESTINATIONS file (issue 9).

- exactly once per destination while one destination is down, one refuses and one delivers; the refusal is a
  dead letter that `kansrijk outbox retry` sends after the fix; SIGKILL mid-push with two destinations;
- consent is the gate: without it not one request reaches a destination (counted by a proxy in front of it);
- an answer outside a recipient's set reaches no destination; internal recipients reach none at all;
- a mapping naming an unknown destination stops start-up; with only KS_FHIR_BASE_URL that server is every
  external destination.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
import yaml

from service import create_app
from service.cli import main as cli
from service.config import MAPPINGS
from service.embedded import EmbeddedServerFailed, start_sekmet
from service.embedded.sekmet import EmbeddedServer, free_port
from service.errors import ConfigurationInvalid
from service.fhir import urls
from service.fhir.auth import BackendServicesAuth
from service.fhir.client import FhirClient
from service.outbox.store import Outbox
from service.referrals.bundle import recipient_of
from service.referrals.submit import Pusher
from tests.factories import OTHER, URGENT, make_qr, with_patient
from tests.faultproxy import FaultProxy
from tests.referrals.test_crash import start_service, wait_for

GGD, CENTRUM, VERLOS = "ggd-zuid-limburg", "centrum-jong-voorbeeldstad", "verloskundigen-voorbeeldstad"
NAMES = {
    GGD: "GGD Zuid Limburg (test)",
    CENTRUM: "Centrum Jong Voorbeeldstad (test)",
    VERLOS: "Verloskundigen Voorbeeldstad (test)",
}
# Maastricht-Heuvelland: the JGZ coordinator (to the GGD) and the practice's own POH Jeugd (internal).
COMPLEX = dict(signals=("homeless", "substance-addiction"))
# Voorbeeldstad: pregnant and urgent -> Centrum Jong and the midwife, each at its own destination.
URGENT_PREGNANT = dict(signals=("homeless",))
RECIPIENTS = {GGD: ["regiocoordinator-jgz"], CENTRUM: ["centrum-jong"], VERLOS: ["verloskundige"]}


@pytest.fixture(autouse=True)
def _no_deployment_env(monkeypatch):
    for name in ("KS_DESTINATIONS", "KS_FHIR_BASE_URL", "KS_MAPPINGS_DIR", "KS_REGION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def stack():
    with ExitStack() as stack:
        yield stack


def start(stack: ExitStack, folder: Path, port: int | None = None, **settings) -> EmbeddedServer:
    try:
        server = start_sekmet(folder, port, settings=settings or None)
    except EmbeddedServerFailed as exc:
        pytest.fail(f"sekmet-fhir could not be started: {exc}", pytrace=False)
    stack.callback(server.stop)
    return server


def proxy_to(stack: ExitStack, server: EmbeddedServer, **kwargs) -> FaultProxy:
    proxy = FaultProxy(int(server.base_url.rsplit(":", 1)[1].split("/")[0]), **{"faults": 0, **kwargs})
    stack.callback(proxy.close)
    return proxy


def write_destinations(path: Path, servers: dict[str, str], auth: dict[str, dict] | None = None) -> Path:
    listed = [
        {"id": name, "name": NAMES[name], "base_url": url, "auth": (auth or {}).get(name, {"method": "none"})}
        for name, url in servers.items()
    ]
    path.write_text(yaml.safe_dump({"destinations": listed}, sort_keys=False), encoding="utf-8")
    return path


def app_with(tmp_path: Path, destinations: Path, **extra):
    return create_app(
        {
            "TESTING": True,
            "data_dir": tmp_path / "data",
            "destinations": destinations,
            "fhir_connect_timeout": 0.5,
            "fhir_read_timeout": 5.0,
            **extra,
        }
    )


def post(app, qr: dict, region: str | None = None):
    return app.test_client().post(
        "/fhir/QuestionnaireResponse/$submit" + (f"?region={region}" if region else ""), json=qr
    )


def answer_state(response) -> str:
    return next(p["valueCode"] for p in response.get_json()["parameter"] if p["name"] == "state")


def destinations_in(response) -> dict[str, dict[str, list[str]]]:
    """The answer's `destination` parts: name -> {part name: values}."""
    out = {}
    for p in response.get_json()["parameter"]:
        if p["name"] == "destination":
            parts: dict[str, list[str]] = {}
            for part in p["part"]:
                value = (
                    part.get("valueString") or part.get("valueCode") or part.get("valueReference", {}).get("reference")
                )
                parts.setdefault(part["name"], []).append(value)
            out[parts["name"][0]] = parts
    return out


def record_in(response) -> dict:
    return next(p["resource"] for p in response.get_json()["parameter"] if p["name"] == "record")


def holdings(base_url: str, auth=None) -> dict[str, list[str]]:
    """What a server holds, per resource type: the recipient of every ServiceRequest, Task and Consent (from
    their identifiers `<submission>:<recipient>[:consent]`), and how many Patients and Provenances."""
    with FhirClient(base_url, auth=auth, retries=0) as client:
        out: dict[str, list[str]] = {}
        for rtype in ("ServiceRequest", "Task", "Consent", "Patient", "Provenance", "QuestionnaireResponse"):
            resources = [e["resource"] for e in client.search(rtype, {"_count": "100"}).get("entry", [])]
            if rtype in ("ServiceRequest", "Task"):
                out[rtype] = sorted(recipient_of(r) for r in resources)
            elif rtype == "Consent":
                out[rtype] = sorted(r["identifier"][0]["value"].split(":")[1] for r in resources)
            else:
                out[rtype] = [rtype] * len(resources)
    return out


def one_of_each(recipients: list[str]) -> dict[str, list[str]]:
    """What a destination holds after one submission for `recipients`: one ServiceRequest, Task and Consent per
    recipient, one Provenance, the Patient once, never the response."""
    return {
        "ServiceRequest": recipients,
        "Task": recipients,
        "Consent": recipients,
        "Patient": ["Patient"],
        "Provenance": ["Provenance"],
        "QuestionnaireResponse": [],
    }


def server_text(server: EmbeddedServer) -> str:
    """Everything a sekmet-fhir server has stored (every table of its SQLite database, history included), as text."""
    with sqlite3.connect(f"file:{server.data_dir / 'sekmet.db'}?mode=ro", uri=True) as db:
        return "\n".join(db.iterdump())


# --------------------------------------------------------------------------- a. down, refused, delivered


def _smart_settings():
    """sekmet-fhir with SMART Backend Services on, and the key of the one client it knows."""
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048)
    jwk = {**key.as_dict(private=False), "alg": "RS384", "kid": "k1", "use": "sig"}
    settings = {
        "server_auth": {
            "types": ["smart"],
            "token_lifetime": 300,
            "smart_clients": [{"client_id": "ks-test", "jwks": {"keys": [jwk]}, "scopes": "system/*.*"}],
        }
    }
    return settings, key.as_pem(private=True)


ROLES = [
    pytest.param({CENTRUM: "delivers", VERLOS: "down", GGD: "refuses"}, id="voorbeeldstad-delivered-and-waiting"),
    pytest.param({CENTRUM: "refuses", VERLOS: "down", GGD: "delivers"}, id="voorbeeldstad-refused-and-waiting"),
]
STATE_OF = {"delivers": "delivered", "down": "queued", "refuses": "dead-letter"}


@pytest.mark.parametrize("roles", ROLES)
def test_exactly_once_per_destination_while_one_is_down_and_one_refuses(tmp_path, stack, monkeypatch, roles):
    smart, pem = _smart_settings()
    servers: dict[str, EmbeddedServer] = {}
    urls_now: dict[str, str] = {}
    for name, role in roles.items():
        if role == "down":  # nothing listens on its port yet
            port = free_port()
            urls_now[name] = f"http://127.0.0.1:{port}/fhir"
        else:
            servers[name] = start(stack, tmp_path / name, **(smart if role == "refuses" else {}))
            urls_now[name] = servers[name].base_url
    refusing = next(n for n, r in roles.items() if r == "refuses")
    token_url = servers[refusing].base_url.removesuffix("/fhir") + "/auth/token"
    server_auth = BackendServicesAuth(token_url, "ks-test", pem, "k1", scope="system/*.*")  # to count what it holds
    monkeypatch.setenv("KS_TEST_DESTINATION_TOKEN", "not-a-valid-token")  # the refusing one's wrong credentials
    path = write_destinations(
        tmp_path / "destinations.yaml",
        urls_now,
        {refusing: {"method": "bearer", "token_env": "KS_TEST_DESTINATION_TOKEN"}},
    )
    app = app_with(tmp_path, path)
    delivery = app.extensions["ks"].delivery

    voorbeeldstad = with_patient(make_qr(**URGENT_PREGNANT, identifier="destinations-v"), bsn="999990044")
    maastricht = make_qr(**COMPLEX, identifier="destinations-m")
    answer_v = post(app, voorbeeldstad, "voorbeeldstad")
    # One destination waits: 202, whatever the other did; each destination listed with its own state.
    assert answer_v.status_code == 202, answer_v.get_json()
    assert answer_state(answer_v) == "queued"
    listed = destinations_in(answer_v)
    assert list(listed) == [CENTRUM, VERLOS]
    for name, parts in listed.items():
        assert parts["state"] == [STATE_OF[roles[name]]] and parts["recipient"] == RECIPIENTS[name]
        assert parts["display"] == [NAMES[name]]
        if roles[name] == "delivers":  # the references the answer gives resolve: absolute, on that server
            [sr_ref] = parts["serviceRequest"]
            base = servers[name].base_url.rstrip("/")
            assert sr_ref.startswith(base + "/ServiceRequest/")
            with FhirClient(base) as client:
                assert recipient_of(client.read(*sr_ref.removeprefix(base + "/").split("/"))) == RECIPIENTS[name][0]
        else:
            assert "serviceRequest" not in parts
    answer_m = post(app, maastricht)
    if roles[GGD] == "refuses":  # its only destination refused and none waits: 502, naming the destination
        assert answer_m.status_code == 502
        outcome = answer_m.get_json()
        assert outcome["resourceType"] == "OperationOutcome" and NAMES[GGD] in json.dumps(outcome)
    else:
        assert answer_m.status_code == 201 and answer_state(answer_m) == "delivered"
        assert list(destinations_in(answer_m)) == [GGD]  # the POH Jeugd is internal: no destination of its own
        assert destinations_in(answer_m)[GGD]["recipient"] == ["regiocoordinator-jgz"]
    [dead] = delivery.outbox.list("dead")
    assert dead.destination == refusing and dead.last_status == 401
    assert holdings(servers[refusing].base_url, server_auth)["ServiceRequest"] == []

    # The down server comes back; the worker's next round (an hour later) delivers what waited, once.
    down = next(n for n, r in roles.items() if r == "down")
    servers[down] = start(stack, tmp_path / down, int(urls_now[down].rsplit(":", 1)[1].split("/")[0]))
    later = Pusher(delivery.outbox, delivery.pusher.clients, delivery.audit, clock=lambda: time.time() + 3600)
    assert later.push_due() == 1
    assert later.push_due() == 0
    assert delivery.outbox.get(dead.id).state == "dead"  # a dead letter waits for a person, not for the worker

    # The refusing destination's credentials are fixed in the deployment file; `kansrijk outbox retry` sends it.
    (tmp_path / "key.pem").write_bytes(pem)
    fixed = write_destinations(
        tmp_path / "destinations.yaml",
        urls_now,
        {
            refusing: {
                "method": "backend-services",
                "token_url": token_url,
                "client_id": "ks-test",
                "private_key_file": "key.pem",
                "key_id": "k1",
                "scope": "system/*.*",
            }
        },
    )
    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KS_DESTINATIONS", str(fixed))
    assert cli(["outbox", "retry"]) == 0
    items = delivery.outbox.list()
    assert sorted(i.destination for i in items) == sorted([CENTRUM, VERLOS, GGD])
    assert {i.destination: i.state for i in items} == dict.fromkeys([CENTRUM, VERLOS, GGD], "delivered")
    for item in items:  # what delivered at once was never pushed again
        assert item.attempts == {"delivers": 1, "down": 2, "refuses": 2}[roles[item.destination]], item.destination

    # Each server: exactly one of each per recipient; the POH Jeugd nowhere.
    for name in (CENTRUM, VERLOS, GGD):
        auth = server_auth if name == refusing else None
        assert holdings(servers[name].base_url, auth) == one_of_each(RECIPIENTS[name]), name
    # Submitted again: every destination already has it; nothing new anywhere.
    assert post(app, voorbeeldstad, "voorbeeldstad").status_code == 201
    assert post(app, maastricht).status_code == 201
    for name in (CENTRUM, VERLOS, GGD):
        auth = server_auth if name == refusing else None
        assert holdings(servers[name].base_url, auth) == one_of_each(RECIPIENTS[name]), name


# --------------------------------------------------------------------------- b. SIGKILL mid-push, two destinations


@pytest.mark.parametrize(
    "modes",
    [("hold", "hold-response"), ("hold-response", "hold")],
    ids=["centrum-unseen-midwife-committed", "centrum-committed-midwife-unseen"],
)
def test_sigkill_mid_push_to_two_destinations_delivers_each_once_after_restart(tmp_path, stack, modes):
    servers = {CENTRUM: start(stack, tmp_path / CENTRUM), VERLOS: start(stack, tmp_path / VERLOS)}
    # Each destination's first connection misbehaves: held unanswered, or committed with the answer held back.
    proxies = {
        name: proxy_to(stack, servers[name], mode=mode, faults=1)
        for name, mode in zip((CENTRUM, VERLOS), modes, strict=False)
    }
    nowhere = f"http://127.0.0.1:{free_port()}/fhir"  # never contacted: no referral in this test goes there
    path = write_destinations(
        tmp_path / "destinations.yaml",
        {GGD: nowhere, CENTRUM: proxies[CENTRUM].base_url, VERLOS: proxies[VERLOS].base_url},
    )
    port = free_port()
    env = {
        **os.environ,
        "KS_DESTINATIONS": str(path),
        "KS_FHIR_BASE_URL": nowhere,
        "KS_DATA_DIR": str(tmp_path / "data"),
        "KS_PORT": str(port),
        "KS_OUTBOX_INTERVAL": "0.3",
        "KS_SANDBOX": "0",
        "KS_FHIR_READ_TIMEOUT": "30",
    }
    log = tmp_path / "service.log"
    service = start_service(env, log)
    try:
        # The request's own push attempt takes the first item and hangs at its proxy, and the worker (every 0.3 s)
        # takes the other: the answer times out. Or the worker claimed both first: 202 at once, and it hangs on
        # one of them while the other waits in its lease.
        try:
            answer = requests.post(
                f"http://127.0.0.1:{port}/fhir/QuestionnaireResponse/$submit?region=voorbeeldstad",
                json=with_patient(make_qr(**URGENT_PREGNANT, identifier="crash-two"), bsn="999990056"),
                headers={"Content-Type": "application/fhir+json"},
                timeout=2,
            )
            assert answer.status_code == 202, answer.text
            both_in_flight = False
        except requests.Timeout:
            both_in_flight = True
        if both_in_flight:
            assert wait_for(lambda: all(p.faulted == 1 for p in proxies.values())), log.read_text()[-2000:]
        else:
            assert wait_for(lambda: any(p.faulted == 1 for p in proxies.values())), log.read_text()[-2000:]
        outbox = Outbox(tmp_path / "data" / "outbox.sqlite3")
        items = {i.destination: i for i in outbox.list()}
        assert set(items) == {CENTRUM, VERLOS}
        assert all(i.state == "pending" for i in items.values())  # both committed to disk before anything was sent
        for name, proxy in proxies.items():
            committed = proxy.faulted == 1 and proxy.mode == "hold-response"
            if committed:
                assert wait_for(
                    lambda name=name: holdings(servers[name].base_url)["ServiceRequest"] == RECIPIENTS[name]
                )
            else:
                assert holdings(servers[name].base_url)["ServiceRequest"] == []
        service.send_signal(signal.SIGKILL)
        service.wait(10)

        for proxy in proxies.values():  # from now on the proxies forward faithfully
            proxy.faults = proxy.faulted
        service = start_service(env, log)
        assert wait_for(lambda: all(outbox.get(i.id).state == "delivered" for i in items.values())), log.read_text()[
            -2000:
        ]
        for name in (CENTRUM, VERLOS):
            assert holdings(servers[name].base_url) == one_of_each(RECIPIENTS[name]), name
    finally:
        if service.poll() is None:
            service.terminate()
            service.wait(10)


# --------------------------------------------------------------------------- c. consent is the gate


def test_without_consent_not_one_request_reaches_any_destination(tmp_path, stack):
    server = start(stack, tmp_path / "recipients")
    # Every destination behind a proxy of its own that counts the connections made to it (no connection: no request).
    proxies = {name: proxy_to(stack, server) for name in (GGD, CENTRUM, VERLOS)}
    app = app_with(
        tmp_path, write_destinations(tmp_path / "destinations.yaml", {n: p.base_url for n, p in proxies.items()})
    )
    delivery = app.extensions["ks"].delivery

    submissions = [
        (
            make_qr(**COMPLEX, consent=False, identifier="no-consent-m"),
            None,
            ["poh-jeugd"],
        ),  # the internal referral only
        (make_qr(**URGENT_PREGNANT, consent=False, identifier="no-consent-v"), "voorbeeldstad", []),
        (make_qr(signals=(), identifier="nothing-to-refer"), None, []),  # consent, but nothing to refer
    ]
    for qr, region, recorded in submissions:
        answer = post(app, qr, region)
        assert answer.status_code == 201, answer.get_json()
        assert answer_state(answer) == "recorded" and destinations_in(answer) == {}
        record = record_in(answer)  # what stays in the practice: the response and the internal referrals
        assert [
            recipient_of(e["resource"]) for e in record["entry"] if e["resource"]["resourceType"] == "ServiceRequest"
        ] == recorded
    assert delivery.outbox.list() == []  # nothing even waits to be sent
    assert {name: p.connections for name, p in proxies.items()} == dict.fromkeys(proxies, 0)
    assert holdings(server.base_url)["ServiceRequest"] == []

    # The same referral with consent does reach the GGD (and only the GGD): the count above can count.
    answer = post(app, make_qr(**COMPLEX, identifier="with-consent-m"))
    assert answer.status_code == 201 and answer_state(answer) == "delivered"
    assert proxies[GGD].connections >= 1 and proxies[CENTRUM].connections == proxies[VERLOS].connections == 0
    assert holdings(server.base_url)["ServiceRequest"] == ["regiocoordinator-jgz"]


# --------------------------------------------------------------------------- d. only the shared answers travel

NOTE = "Hulpvraag-3f9c: wij zoeken dringend een woning en steun bij de opvoeding"


def test_an_answer_outside_a_recipients_set_reaches_no_destination(tmp_path, stack):
    servers = {name: start(stack, tmp_path / name) for name in (GGD, CENTRUM, VERLOS)}
    app = app_with(
        tmp_path, write_destinations(tmp_path / "destinations.yaml", {n: s.base_url for n, s in servers.items()})
    )
    # Pregnant, urgent (domestic violence and homelessness ticked), the kindcheck answered, the family's own words.
    qr = with_patient(
        make_qr(signals=("domestic-violence", "homeless"), children=3, note=NOTE, identifier="shares-v"),
        bsn="999990068",
    )
    answer = post(app, qr, "voorbeeldstad")
    assert answer.status_code == 201 and answer_state(answer) == "delivered"
    assert list(destinations_in(answer)) == [CENTRUM, VERLOS]
    internal = post(
        app,
        with_patient(
            make_qr(signals=("homeless", "substance-addiction"), note=NOTE, identifier="shares-m"), bsn="999990068"
        ),
    )
    assert internal.status_code == 201 and list(destinations_in(internal)) == [GGD]
    record = record_in(internal)  # the POH Jeugd's referral exists, in the practice's own record
    assert "poh-jeugd" in [
        recipient_of(e["resource"]) for e in record["entry"] if e["resource"]["resourceType"] == "Task"
    ]

    held = {name: server_text(s) for name, s in servers.items()}
    # The search is real: each server holds its own referral and the patient's identity (shared with both).
    assert ":verloskundige" in held[VERLOS] and "999990068" in held[VERLOS]
    assert ":centrum-jong" in held[CENTRUM] and ":regiocoordinator-jgz" in held[GGD]
    # Centrum Jong shares everything of DOMAIN.md §3.1: the family's words and the signals.
    assert NOTE in held[CENTRUM] and "domestic-violence" in held[CENTRUM] and "Huiselijk geweld" in held[CENTRUM]
    # The midwife shares identity, language, phase, level and consent: no note, no signal, by no name or code.
    signal_words = [*URGENT, *OTHER, "Huiselijk geweld", "Dak- of thuisloos", "706893006", "32911000", urls.CS_SIGNAL]
    for word in [NOTE, "Hulpvraag-3f9c", *signal_words]:
        assert word not in held[VERLOS], word
    # The kindcheck is in no recipient's set, and the POH Jeugd is internal: neither reaches any destination;
    # nor does the complete response, or a reference that only the practice's EHR could resolve.
    for name, text in held.items():
        for word in ("children-in-household", "Kindcheck", "poh-jeugd", "POH Jeugd", "PractitionerRole/demo-gp"):
            assert word not in text, (name, word)
        assert holdings(servers[name].base_url)["QuestionnaireResponse"] == [], name


# --------------------------------------------------------------------------- e. configuration


def _full_file(tmp_path: Path) -> Path:
    return write_destinations(tmp_path / "destinations.yaml", {n: f"https://{n}.example.invalid/fhir" for n in NAMES})


def test_a_mapping_naming_an_unknown_destination_stops_start_up(tmp_path, monkeypatch, capsys):
    mappings = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, mappings)
    recipients = mappings / "regions" / "voorbeeldstad.recipients.yaml"
    recipients.write_text(
        recipients.read_text(encoding="utf-8").replace(f"destination: {VERLOS}", "destination: verloskundigen-vbs"),
        encoding="utf-8",
    )
    monkeypatch.setenv("KS_DESTINATIONS", str(_full_file(tmp_path)))
    with pytest.raises(ConfigurationInvalid) as failed:
        create_app({"TESTING": True, "data_dir": tmp_path / "data", "mappings_dir": mappings})
    [problem] = failed.value.problems
    assert "verloskundige" in str(problem) and "verloskundigen-vbs" in str(problem) and "voorbeeldstad" in str(problem)
    # The command line stops the same way.
    monkeypatch.setenv("KS_MAPPINGS_DIR", str(mappings))
    monkeypatch.setenv("KS_DATA_DIR", str(tmp_path / "data"))
    assert cli(["outbox", "list"]) == 3
    assert "verloskundigen-vbs" in capsys.readouterr().err


def test_a_destination_missing_from_the_file_stops_start_up(tmp_path, monkeypatch):
    path = write_destinations(
        tmp_path / "destinations.yaml", {n: f"https://{n}.example.invalid/fhir" for n in (CENTRUM, VERLOS)}
    )
    monkeypatch.setenv("KS_DESTINATIONS", str(path))
    with pytest.raises(ConfigurationInvalid) as failed:
        create_app({"TESTING": True, "data_dir": tmp_path / "data"})
    text = str(failed.value)
    # Both recipients that go to the GGD are named, each at its place in the mappings.
    assert (
        len(failed.value.problems) == 2 and "regiocoordinator-jgz" in text and "nu-niet-zwanger" in text and GGD in text
    )


def test_with_only_fhir_base_url_every_external_destination_is_that_server(tmp_path, stack):
    server = start(stack, tmp_path / "fhir")
    app = create_app({"TESTING": True, "data_dir": tmp_path / "data", "fhir_base_url": server.base_url})
    delivery = app.extensions["ks"].delivery
    assert {n: d.base_url for n, d in delivery.destinations.items()} == dict.fromkeys(
        [GGD, CENTRUM, VERLOS], server.base_url
    )
    answer = post(app, make_qr(**URGENT_PREGNANT, identifier="one-server-v"), "voorbeeldstad")
    assert answer.status_code == 201 and answer_state(answer) == "delivered"
    assert {n: p["state"] for n, p in destinations_in(answer).items()} == {
        CENTRUM: ["delivered"],
        VERLOS: ["delivered"],
    }
    assert post(app, make_qr(**COMPLEX, identifier="one-server-m")).status_code == 201
    held = holdings(server.base_url)
    assert held["ServiceRequest"] == sorted(["centrum-jong", "verloskundige", "regiocoordinator-jgz"])
    assert held["Provenance"] == ["Provenance"] * 3  # one per destination Bundle, all on the one server
