"""Time the recipient's worklist page and one step on a referral (issue 13 point 6) on the embedded server.

1,000 open referrals for the JGZ coordinator are loaded into an embedded sekmet-fhir with transactions directly (a
Patient, a ServiceRequest and its Task per referral, fifty referrals a transaction; not through the form). Then,
in-process through the app (Flask's test client, the inbox session stored as the sign-in stores one): GET /inbox,
the worklist's first page (PAGE_SIZE lines of the 1,000, sorted by priority and age; the page reads them all to
sort them), and POST /inbox/referral/<id>/accept on a different referral each time (read, If-Match PUT, the
patient read for the audit row, the row). p50/p99 of each, against the targets: page p99 < 300 ms, update p99 <
150 ms on this machine.
Run: .venv/bin/python benchmarks/inbox.py [--referrals 1000] [--pages 50] [--updates 100]
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import create_app  # noqa: E402
from service.embedded import start_sekmet  # noqa: E402
from service.fhir import urls  # noqa: E402
from service.fhir.client import FhirClient  # noqa: E402
from service.inbox.auth import COOKIE_NAME  # noqa: E402

JGZ = {"system": urls.URA, "value": "90000101"}
PAGE_TARGET, UPDATE_TARGET = 0.300, 0.150


def referral(n: int, rng: random.Random, now: datetime) -> list[dict]:
    """The transaction entries of one referral: its Patient, ServiceRequest and Task (invented data)."""
    patient, sr = f"urn:uuid:00000000-0000-4000-8000-{n:012d}", f"urn:uuid:00000000-0000-4000-9000-{n:012d}"
    priority = rng.choices(["urgent", "routine"], weights=[1, 3])[0]
    sent = (now - timedelta(hours=rng.randint(1, 24 * 40))).isoformat(timespec="seconds")
    resources = [
        (
            patient,
            {
                "resourceType": "Patient",
                "identifier": [{"system": urls.BSN, "value": f"9{n:08d}"}],
                "name": [{"family": f"Bench{n}", "given": ["Moeder"]}],
                "birthDate": f"{rng.randint(1985, 2006)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            },
        ),
        (
            sr,
            {
                "resourceType": "ServiceRequest",
                "status": "active",
                "intent": "order",
                "priority": priority,
                "subject": {"reference": patient},
                "authoredOn": sent,
                "reasonCode": [{"text": "Financiële problematiek"}],
            },
        ),
        (
            f"urn:uuid:00000000-0000-4000-a000-{n:012d}",
            {
                "resourceType": "Task",
                "identifier": [{"system": urls.ID_TASK, "value": f"bench-{n}:regiocoordinator-jgz"}],
                "status": "requested",
                "intent": "order",
                "priority": priority,
                "focus": {"reference": sr},
                "for": {"reference": patient},
                "authoredOn": sent,
                "owner": {"type": "Organization", "identifier": JGZ, "display": "GGD Zuid Limburg — JGZ"},
            },
        ),
    ]
    return [
        {"fullUrl": url, "resource": res, "request": {"method": "POST", "url": res["resourceType"]}}
        for url, res in resources
    ]


def load(base_url: str, count: int) -> list[str]:
    """`count` open referrals for the JGZ, fifty a transaction; their Task ids."""
    rng, now = random.Random(13), datetime.now(UTC)
    ids: list[str] = []
    with FhirClient(base_url, sleep=lambda _: None) as fhir:
        for start in range(0, count, 50):
            entries = [e for n in range(start, min(count, start + 50)) for e in referral(n, rng, now)]
            answer = fhir.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
            found = (re.search(r"(?:^|/)Task/([^/]+)", e["response"]["location"]) for e in answer["entry"])
            ids += [m.group(1) for m in found if m]
    return ids


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(name: str, times: list[float], target: float) -> bool:
    p50, p99 = statistics.median(times), percentile(times, 99)
    met = p99 < target
    print(
        f"{name}: n={len(times)} p50={p50 * 1000:.1f} ms p99={p99 * 1000:.1f} ms "
        f"(target p99 < {target * 1000:.0f} ms: {'met' if met else 'NOT met'})"
    )
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=1000)
    parser.add_argument("--pages", type=int, default=50, help="worklist page views timed")
    parser.add_argument("--updates", type=int, default=100, help="accepts timed (each on another referral)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_sekmet(Path(tmp) / "sekmet")
        try:
            return run(server.base_url, Path(tmp) / "data", args)
        finally:
            server.stop()


def run(base_url: str, data: Path, args) -> int:
    started = time.perf_counter()
    task_ids = load(base_url, args.referrals)
    print(f"loaded {len(task_ids)} open referrals in {time.perf_counter() - started:.1f} s")
    app = create_app(
        {"TESTING": True, "data_dir": data, "fhir_base_url": base_url, "sandbox": "on", "public_url": "http://x"}
    )
    logging.getLogger("service").setLevel(logging.WARNING)  # each FHIR call's INFO line is no figure
    store = app.extensions["ks"].inbox
    sid = store.new_id()
    user = {"provider": "sandbox", "sub": "demo-jgz", "name": "Marieke Hendriks", "recipient": "regiocoordinator-jgz"}
    store.save_session(sid, user)
    client = app.test_client()
    client.set_cookie(COOKIE_NAME, sid, path="/inbox")
    first = client.get("/inbox")
    assert first.status_code == 200, first.status_code
    shown = len(re.findall(r'href="/inbox/referral/', first.get_data(as_text=True)))
    token = re.search(r'name="csrf_token" value="([^"]+)"', first.get_data(as_text=True)).group(1)
    print(f"the worklist's first page shows {shown} of {len(task_ids)} (a 'Volgende' link to the rest)")
    pages = []
    for _ in range(args.pages):
        t0 = time.perf_counter()
        assert client.get("/inbox").status_code == 200
        pages.append(time.perf_counter() - t0)
    updates = []
    for task_id in task_ids[: args.updates]:
        t0 = time.perf_counter()
        r = client.post(f"/inbox/referral/{task_id}/accept", data={"csrf_token": token, "version": "1"})
        updates.append(time.perf_counter() - t0)
        assert r.status_code == 303, (r.status_code, r.get_data(as_text=True)[:300])
    ok = report("worklist page (GET /inbox)", pages, PAGE_TARGET)
    ok = report("one update (POST accept)", updates, UPDATE_TARGET) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
