"""`make run`: start the service on loopback and print how to call it."""

from __future__ import annotations

import os
import sys

from service import create_app
from service.errors import ConfigurationInvalid


def main() -> int:
    host = os.environ.get("KS_HOST", "127.0.0.1")
    port = int(os.environ.get("KS_PORT", "8080"))
    try:
        app = create_app()
    except (ConfigurationInvalid, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 3
    base = f"http://{host}:{port}/fhir"
    example = "examples/pregnant-urgent.json"
    print(f"""
Kansrijke Start API: {base}
  curl -s {base}/metadata
  curl -s '{base}/Questionnaire?url=https://kansrijke-start.github.io/fhir/Questionnaire/kansrijke-start-signalering'
  curl -s -X POST -H 'Content-Type: application/fhir+json' --data-binary @{example} {base}/QuestionnaireResponse/\\$validate
  curl -s -X POST -H 'Content-Type: application/fhir+json' --data-binary @{example} {base}/QuestionnaireResponse/\\$evaluate
  curl -s -X POST -H 'Content-Type: application/fhir+json' --data-binary @{example} {base}/QuestionnaireResponse/\\$extract
Command line: .venv/bin/kansrijk evaluate {example}
Stop with Ctrl-C.
""", flush=True)
    app.run(host=host, port=port, debug=False, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
