"""`make run`: the service with its embedded FHIR server (sekmet-fhir) and demo data, on loopback.

With KS_FHIR_BASE_URL set, the service pushes to that server instead and starts nothing else
(KS_LOAD_DEMO=1 loads the demo data there too).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from datetime import date
from pathlib import Path

from service.errors import ConfigurationInvalid


def load_demo(base_url: str, region: str) -> int:
    from service.config import load_settings
    from service.demo import demo_bundle
    from service.fhir.client import FhirClient
    from service.referrals.pipeline import Engine

    settings = load_settings()
    engine = Engine.from_folders(settings.questionnaires_dir, settings.mappings_dir, region, "demo")
    bundle = demo_bundle(engine.ruleset(), date.today())
    with FhirClient(base_url) as client:
        client.transaction(bundle)
    return len(bundle["entry"])


def main() -> int:
    from service import create_app
    from service.config import SettingsInvalid, load_settings

    host = os.environ.get("KS_HOST", "127.0.0.1")
    port = int(os.environ.get("KS_PORT", "8080"))
    # make run is the demo: the sandbox EHR is on unless KS_SANDBOX says otherwise.
    os.environ.setdefault("KS_SANDBOX", "1")
    os.environ.setdefault("KS_PUBLIC_URL", f"http://{host}:{port}")
    os.environ.setdefault("KS_AANDACHTSFUNCTIONARIS", "Dr. A. Jansen (huisarts, demo), toestel 214")
    embedded = None
    # `docker stop`, systemd and process managers end with SIGTERM: leave through `finally` as on Ctrl-C,
    # so the embedded FHIR server (a child process) and the background threads stop with the service.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        settings = load_settings()
        if not settings.fhir_base_url:
            from service.embedded.sekmet import start_sekmet

            fhir_port = int(os.environ.get("KS_FHIR_PORT", "8090"))
            embedded = start_sekmet(Path(settings.data_dir) / "fhir-server", fhir_port)
            os.environ["KS_FHIR_BASE_URL"] = embedded.base_url
            print(f"Embedded FHIR server (sekmet-fhir) at {embedded.base_url}, data in {embedded.data_dir}")
        base_url = os.environ["KS_FHIR_BASE_URL"]
        if embedded or os.environ.get("KS_LOAD_DEMO") == "1":
            count = load_demo(base_url, settings.region)
            print(f"Demo data loaded: {count} resources (practice, GP, POH Jeugd, assistant, 4 patients, recipients)")
        app = create_app()
    except (ConfigurationInvalid, SettingsInvalid) as exc:
        print(exc, file=sys.stderr)
        if embedded:
            embedded.stop()
        return 3
    base = f"http://{host}:{port}/fhir"
    example = "examples/pregnant-urgent.json"
    post = "curl -s -X POST -H 'Content-Type: application/fhir+json' --data-binary @" + example
    print(f"""
Kansrijke Start API: {base}   (referrals are pushed to {base_url})
  curl -s {base}/metadata
  {post} {base}/QuestionnaireResponse/\\$validate
  {post} {base}/QuestionnaireResponse/\\$evaluate
  {post} {base}/QuestionnaireResponse/\\$extract
  {post} {base}/QuestionnaireResponse          # submit: the referral goes to the FHIR server
  curl -s '{base_url}/ServiceRequest?subject=Patient/demo-pregnant'
Command line: .venv/bin/kansrijk evaluate {example}   |   KS_FHIR_BASE_URL={base_url} .venv/bin/kansrijk outbox list
Stop with Ctrl-C.
""", flush=True)
    if app.config["KS_SETTINGS"].sandbox == "on":
        print(f"Open the demo (the sandbox EHR launches the app): http://{host}:{port}/sandbox/launch", flush=True)
    # No access log: request lines carry paths and query strings (the sandbox EHR's FHIR calls name patients).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        app.run(host=host, port=port, debug=False, use_reloader=False)
    finally:
        for name in ("ks_outbox_worker", "ks_housekeeper"):
            if app.extensions.get(name):
                app.extensions[name].stop()
        if embedded:
            embedded.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
