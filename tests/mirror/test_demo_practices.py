"""The invented practices of `make run`'s demo history (service/mirror/history.py) are in the sandbox EHR's registry
entry (service/registry.py sandbox_ehr), named and marked invented, so the region's pages name them; a launch never
speaks for one of them (service/smart/views.py practice_for)."""

from __future__ import annotations

from service.demo import PRACTICE_AGB
from service.fhir import urls
from service.mirror.history import DEMO_PRACTICES
from service.registry import sandbox_ehr
from service.smart.views import practice_for

EHR = sandbox_ehr(
    public_url="http://127.0.0.1:8000", client_id="app", client_secret=None, region="maastricht-heuvelland"
)


def test_every_practice_of_the_history_is_registered_and_the_invented_ones_say_so():
    by_id = {p.id: p for p in EHR.practices}
    assert set(DEMO_PRACTICES) == set(by_id)
    invented = [by_id[pid] for pid in DEMO_PRACTICES if pid != "demo-practice"]
    assert invented and all(p.invented and "(verzonnen)" in p.name for p in invented)
    assert not by_id["demo-practice"].invented
    assert len({p.name for p in EHR.practices}) == len(EHR.practices)  # the pages tell them apart
    assert all(p.region == "maastricht-heuvelland" for p in EHR.practices)


def test_a_launch_speaks_for_the_demo_practice_never_an_invented_one():
    assert practice_for(EHR, frozenset()).id == "demo-practice"  # no organisation named: the one launchable
    assert practice_for(EHR, frozenset({(urls.AGB_Z, PRACTICE_AGB)})).id == "demo-practice"
    for practice in EHR.practices:
        if practice.invented:
            assert practice_for(EHR, frozenset({(urls.AGB_Z, practice.agb)})) is None
            assert practice_for(EHR, frozenset({(urls.URA, practice.ura)})) is None
