"""The package carries its data: a wheel built from the source holds the Questionnaire, the rules and the Meldcode
steps with their schemas, the deployment files' schemas, the templates and the static files; installed (the wheel
unpacked, without the checkout on the path) and run from another folder, it loads its default settings, finds its
Questionnaire and rules, and renders its pages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from service import startup_record

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built (pip, build isolation) from a copy of the source, so the checkout gets no build/ folder."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "service", source / "service", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(source), "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (built,) = out.glob("kansrijke_start-*.whl")
    return built


def test_the_wheel_holds_the_data_the_service_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())

    def under(folder: str, suffix: str) -> set[str]:
        return {n.removeprefix(folder) for n in names if n.startswith(folder) and n.endswith(suffix)}

    data = "service/data/"
    assert f"{data}questionnaires/Questionnaire-kansrijke-start-signalering.json" in names
    shipped = {p.name for p in (ROOT / data / "questionnaires").glob("*.json")}
    assert under(f"{data}questionnaires/", ".json") == shipped
    rules = {p.name for p in (ROOT / data / "mappings" / "regions").glob("*.yaml")}
    assert len(rules) >= 4 and under(f"{data}mappings/regions/", ".yaml") == rules
    assert f"{data}mappings/meldcode.yaml" in names
    assert f"{data}checked.json" in names  # the manifest of the files that passed every check
    assert under(f"{data}mappings/schemas/", ".json") == {
        "ruleset.schema.json",
        "recipients.schema.json",
        "meldcode.schema.json",
    }
    assert under("service/schemas/", ".json") == {p.name for p in (ROOT / "service" / "schemas").glob("*.json")}
    templates = ROOT / "service" / "templates"
    assert under("service/templates/", ".html") == {
        p.relative_to(templates).as_posix() for p in templates.rglob("*.html")
    }
    measures = {p.name for p in (ROOT / data / "measures").glob("*.json")}  # the mirror figures' Measures (issue 14)
    assert len(measures) >= 9 and under(f"{data}measures/", ".json") == measures
    assert under("service/static/", "") == {p.name for p in (ROOT / "service" / "static").iterdir() if p.is_file()}
    versions = ROOT / "service" / "db" / "migrations" / "versions"  # the storage layer's migrations (issue 16)
    assert under("service/db/migrations/versions/", ".py") == {p.name for p in versions.glob("*.py")}


INSTALLED = """
import json, sys
from pathlib import Path
import service
from service import create_app
from service.config import load_settings

settings = load_settings()
app = create_app({"TESTING": True})
client = app.test_client()
found = client.get("/fhir/Questionnaire").get_json()
page = client.get("/launch/standalone")
print(json.dumps({
    "package": service.__file__,
    "questionnaires": str(settings.questionnaires_dir),
    "mappings": str(settings.mappings_dir),
    "data": str(Path(settings.data_dir).resolve()),
    "urls": [e["resource"]["url"] for e in found.get("entry", [])],
    "rulesets": sorted(app.extensions["ks"].engine.rulesets),
    "meldcode": len(app.extensions["ks"].meldcode),
    "page": page.status_code,
    "html": page.get_data(as_text=True)[:15],
    "r4 models imported": "fhir.resources" in sys.modules,
}))
"""


def test_the_installed_package_runs_without_the_checkout(wheel, tmp_path):
    site, elsewhere = tmp_path / "site-packages", tmp_path / "elsewhere"
    zipfile.ZipFile(wheel).extractall(site)  # what pip install puts in site-packages
    # Its manifest as `--write-manifest` writes it now, for these libraries (whether the committed one is current is
    # tests/test_startup_record.py's): the installed package recognises its own files.
    (site / "service" / "data" / "checked.json").write_text(json.dumps(startup_record.manifest()), encoding="utf-8")
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KS_")}
    env["PYTHONPATH"] = str(site)  # before the editable checkout on sys.path
    result = subprocess.run(
        [sys.executable, "-c", INSTALLED], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    package = site / "service"
    assert Path(seen["package"]).parent == package
    assert seen["questionnaires"] == str(package / "data" / "questionnaires")
    assert seen["mappings"] == str(package / "data" / "mappings")
    assert seen["data"] == str((elsewhere / "var").resolve())  # the state goes where it runs, not into the package
    assert "https://kansrijke-start.github.io/fhir/Questionnaire/kansrijke-start-signalering" in seen["urls"]
    assert {"maastricht-heuvelland", "voorbeeldstad"} <= set(seen["rulesets"])
    assert seen["meldcode"] == 5
    assert seen["page"] == 200 and seen["html"].startswith("<!doctype html>")
    assert not seen["r4 models imported"]  # its own files, as its manifest names them: no structural check again
