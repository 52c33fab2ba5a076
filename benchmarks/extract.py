"""Time $extract in-process over a realistic mix of responses; print responses/s and the ratio to the floor.

The floor is a bare json.loads + json.dumps of the same request documents: what any JSON API pays. The floor,
the engine and the API are timed in turn, round after round, and each round's ratio taken; the median of those
is checked against the target (engine.extract within 4x the floor, POST $extract at 1000 responses/s or more).
Run: make bench   (or .venv/bin/python benchmarks/extract.py [--n 3000] [--rounds 7])
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import create_app  # noqa: E402
from tests.factories import OTHER, URGENT, make_qr  # noqa: E402


def realistic_mix(n: int, seed: int = 7) -> list[bytes]:
    """Mostly few signals, some many; all phases; consent mostly given; some notes and overrides."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        phase = rng.choices(["pregnant", "postpartum", "preconception"], weights=[5, 3, 2])[0]
        signals = tuple(
            rng.sample(URGENT, rng.choices([0, 1, 2], weights=[6, 3, 1])[0])
            + rng.sample(OTHER, rng.choices([0, 1, 2, 3, 5], weights=[3, 3, 2, 1, 1])[0])
        )
        kw = dict(
            phase=phase,
            signals=signals,
            identifier=f"bench-{i}",
            consent=rng.random() < 0.85,
            note="Wil graag hulp bij de voorbereiding." if rng.random() < 0.3 else None,
        )
        if phase == "postpartum":
            kw["child_birth_date"] = (
                f"20{rng.choice(['23', '24', '25', '26'])}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
            )
        if phase == "preconception":
            kw["intention"] = rng.choice(["yes", "no", "unsure", "either", None])
        if "domestic-violence" in signals:
            kw["children"] = rng.randint(0, 3)
        if rng.random() < 0.05:
            kw["override"], kw["override_reason"] = "urgent", "Eigen inschatting na gesprek"
        docs.append(json.dumps(make_qr(**kw)).encode())
    return docs


FLOOR_TARGET = 4.0  # engine.extract within 4x the JSON floor (issue 10, point 8)
API_TARGET = 1000  # POST $extract responses/s


def _timed(fn: Callable[[bytes], object], docs: list[bytes]) -> float:
    t0 = time.perf_counter()
    for doc in docs:
        fn(doc)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="floor, engine and API in turn, this many times")
    args = parser.parse_args()
    docs = realistic_mix(args.n)
    client = create_app({"TESTING": True, "data_dir": tempfile.mkdtemp(prefix="ks-extract-bench-")}).test_client()
    engine = client.application.extensions["ks"].engine
    headers = {"Content-Type": "application/fhir+json"}

    def floor(doc: bytes) -> None:
        json.dumps(json.loads(doc))

    def pure(doc: bytes) -> None:
        engine.extract(json.loads(doc))

    def api(doc: bytes) -> None:
        response = client.post("/fhir/QuestionnaireResponse/$extract", data=doc, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"unexpected {response.status_code}: {response.get_data(as_text=True)[:300]}")

    for doc in docs[:50]:  # warm-up: compile caches, first imports
        api(doc)

    # Interleaved: each round times the floor, the engine and the API over the same documents, one after the
    # other, so a change in the machine's load shows in all three; the ratios are taken per round.
    rounds: list[tuple[float, float, float]] = []
    for _ in range(args.rounds):
        rounds.append((_timed(floor, docs), _timed(pure, docs), _timed(api, docs)))

    n = len(docs)
    size = sum(map(len, docs)) / n

    def us(values: list[float]) -> str:
        return f"min {min(values) / n * 1e6:7.1f} us  median {statistics.median(values) / n * 1e6:7.1f} us"

    floors, engines, apis = ([r[i] for r in rounds] for i in range(3))
    ratio = statistics.median(e / f for f, e, _ in rounds)
    api_ratio = statistics.median(a / f for f, _, a in rounds)
    rate = n / statistics.median(apis)
    print(
        f"responses: {n} (mean request {size / 1024:.1f} KiB), {args.rounds} interleaved rounds, one process, one core"
    )
    print(f"floor json.loads+dumps : {us(floors)}")
    print(f"engine.extract (pure)  : {us(engines)}  {ratio:5.2f}x floor (median of the rounds' ratios)")
    print(f"POST $extract (Flask)  : {us(apis)}  {api_ratio:5.2f}x floor  {rate:6.0f} responses/s (median)")
    print(
        f"target engine.extract <= {FLOOR_TARGET:g}x floor: {'met' if ratio <= FLOOR_TARGET else 'NOT met'} "
        f"({ratio:.2f}x); POST $extract >= {API_TARGET} responses/s: {'met' if rate >= API_TARGET else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
