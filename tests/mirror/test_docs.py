"""docs/mirror-events.md names every column of the event record and of its links, each in its own table's section,
and nothing that is not there (issue 14 point 1: "documented field by field"); the CSV's columns as export.py
writes them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.db import schema
from service.mirror.export import COLUMNS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "mirror-events.md").read_text(encoding="utf-8")


def section(heading: str) -> str:
    """The text under the `## ...` heading that names `heading`, up to the next heading."""
    start = next(m.end() for m in re.finditer(r"^## .*$", DOC, re.M) if f"`{heading}`" in m.group(0))
    following = re.search(r"^## ", DOC[start:], re.M)
    return DOC[start : start + following.start()] if following else DOC[start:]


@pytest.mark.parametrize("table", [schema.event, schema.event_signal, schema.event_recipient, schema.mirror_link])
def test_every_column_is_documented_in_its_tables_section(table):
    text = section(table.name)
    named = set(re.findall(r"`([a-z_]+)`", text))
    assert {c.name for c in table.columns} <= named
    rows = set(re.findall(r"^\| `([a-z_]+)`", text, re.M))  # the field tables' first column: only real columns
    assert rows <= {c.name for c in table.columns}


def test_the_csv_columns_are_documented_in_order():
    text = DOC.split("The CSV is one column set", 1)[1]
    listed = [name for name in re.findall(r"`([a-z]+)`", text) if name in COLUMNS]
    assert list(dict.fromkeys(listed)) == list(COLUMNS)
