"""The referral's detail in words: a patient's preferred language by its name, in the page's language."""

from __future__ import annotations

import pytest

from service.inbox.views_model import language_name


@pytest.mark.parametrize(
    ("code", "lang", "name"),
    [
        ("nl", "nl", "Nederlands"),
        ("tr", "nl", "Turks"),
        ("tr", "en", "Turkish"),
        ("pap", "nl", "Papiaments"),
        ("en-GB", "nl", "Engels (Verenigd Koninkrijk)"),
    ],
)
def test_a_language_by_its_name(code, lang, name):
    assert language_name({"system": "urn:ietf:bcp:47", "code": code}, lang) == name


def test_an_unknown_code_by_its_display_or_as_it_is():
    assert language_name({"code": "qaa", "display": "Eigen taal"}, "nl") == "Eigen taal"
    assert language_name({"code": "xx-yy"}, "nl") == "xx-yy"
