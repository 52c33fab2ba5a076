"""GET /healthz: is this instance up and does its database answer? For the container's health check and the
region's monitoring (README "Production"); it says nothing about patients, referrals or the queue.

The answer follows the IETF draft "Health Check Response Format for HTTP APIs" (draft-inadarei-api-health-check,
§3: `application/health+json`, `status` pass or fail; 200 for pass, 503 for fail): pass when a `SELECT 1` on the
service's database (KS_DATABASE_URL, or the launch sessions' SQLite file) succeeds. One cheap statement through
the pool, no audit row (nothing about a patient is read), never cached.
"""

from __future__ import annotations

import logging

from flask import Response, current_app, json
from sqlalchemy import text as sql_text  # not service.texts' text(): SQL

from service.db import database_for

log = logging.getLogger(__name__)
HEALTH_JSON = "application/health+json"


def healthz() -> Response:
    """pass (200) when the database answers, fail (503) otherwise; the failure is logged by its type only."""
    settings = current_app.config["KS_SETTINGS"]
    try:
        with database_for(settings, "sessions").engine.connect() as conn:
            conn.execute(sql_text("SELECT 1"))
        status, code = "pass", 200
    except Exception as exc:  # the database is down or refuses us: this instance cannot serve
        log.warning("health check: the database does not answer (%s)", type(exc).__name__)
        status, code = "fail", 503
    response = Response(json.dumps({"status": status}), status=code, mimetype=HEALTH_JSON)
    response.headers["Cache-Control"] = "no-store"
    return response
