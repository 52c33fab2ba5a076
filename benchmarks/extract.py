"""Time $extract in-process over a realistic mix of responses; print responses/s and the ratio to the floor.

The floor is a bare json.loads + json.dumps of the same request documents: what any JSON API pays.
Run: make bench   (or .venv/bin/python benchmarks/extract.py [--n 3000])
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    docs = realistic_mix(args.n)
    client = create_app({"TESTING": True, "data_dir": tempfile.mkdtemp(prefix="ks-extract-bench-")}).test_client()
    engine = client.application.extensions["ks"].engine
    headers = {"Content-Type": "application/fhir+json"}

    for doc in docs[:50]:  # warm-up: compile caches, first imports
        assert client.post("/fhir/QuestionnaireResponse/$extract", data=doc, headers=headers).status_code == 200

    t0 = time.perf_counter()
    for doc in docs:
        json.dumps(json.loads(doc))
    floor = time.perf_counter() - t0

    t0 = time.perf_counter()
    for doc in docs:
        engine.extract(json.loads(doc))
    engine_only = time.perf_counter() - t0

    t0 = time.perf_counter()
    for doc in docs:
        response = client.post("/fhir/QuestionnaireResponse/$extract", data=doc, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"unexpected {response.status_code}: {response.get_data(as_text=True)[:300]}")
    api = time.perf_counter() - t0

    n = len(docs)
    size = sum(map(len, docs)) / n
    print(f"responses: {n} (mean request {size / 1024:.1f} KiB), one process, one core")
    print(f"floor json.loads+dumps : {n / floor:10.0f} /s  {floor / n * 1e6:8.1f} us each")
    print(
        f"engine.extract (pure)  : {n / engine_only:10.0f} /s  {engine_only / n * 1e6:8.1f} us each  {engine_only / floor:5.1f}x floor"
    )
    print(f"POST $extract (Flask)  : {n / api:10.0f} /s  {api / n * 1e6:8.1f} us each  {api / floor:5.1f}x floor")
    print("target: >= 1000 responses/s and <= 30x floor for $extract")


if __name__ == "__main__":
    main()
