"""The reverse proxy's own answers when no instance of the service answers (deploy/nginx/kansrijk.conf.template:
502, 503 and 504 of nginx itself), written as static files from the service's own template and texts, so that a
client never sees nginx's default HTML:

- `unavailable.nl.html`, `unavailable.en.html`: the practice's error page (templates/error.html, texts
  page.503.*), with the service's stylesheet beside it as `app.css` (served by the proxy under /_ks_proxy/);
- `unavailable.nl.json`, `unavailable.en.json`: an OperationOutcome for /fhir (issue code `transient`, Dutch
  `diagnostics`, `details.text` in the file's language, as service/errors_render.py answers).

`python -m service.proxy_pages DIR` writes them into DIR (the region's compose runs it once into the volume
nginx reads; tests/test_region_proxy.py into the folder of its nginx).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from flask import Flask, render_template

from service.errors import Issue, operation_outcome
from service.texts import text, texts

LANGUAGES = ("nl", "en")
PACKAGE = Path(__file__).resolve().parent
STATIC_URL = "/_ks_proxy"  # where the proxy serves app.css (and nothing else of the service's)


def _renderer() -> Flask:
    """A Flask app with only the service's templates and static files, and the one page the error page links to."""
    app = Flask("service", root_path=str(PACKAGE), static_url_path=STATIC_URL)
    app.add_url_rule("/form", endpoint="web.form")
    return app


def page(lang: str) -> str:
    """The error page of an unreachable service in `lang`."""
    app = _renderer()

    def t(key: str, in_lang: str | None = lang, /, **values: object) -> str:
        return text(key, in_lang, **values)

    with app.test_request_context("/"):
        return render_template(
            "error.html", title="page.503.title", text="page.503.text", status=503, t=t, lang=lang, ui_lang=lang
        )


def outcome(lang: str) -> str:
    """The OperationOutcome of an unreachable service, texts in `lang`."""
    issue = Issue.of(texts("http.unavailable"), code="transient")
    return json.dumps(operation_outcome([issue], lang), ensure_ascii=False)


def write(folder: Path) -> list[Path]:
    """Every file the proxy serves into `folder`; the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for lang in LANGUAGES:
        for name, body in ((f"unavailable.{lang}.html", page(lang)), (f"unavailable.{lang}.json", outcome(lang))):
            (folder / name).write_text(body, encoding="utf-8")
            written.append(folder / name)
    written.append(Path(shutil.copyfile(PACKAGE / "static" / "app.css", folder / "app.css")))
    for path in written:
        path.chmod(0o644)  # read by nginx's worker user
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m service.proxy_pages DIR", file=sys.stderr)
        return 2
    for path in write(Path(args[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
