"""No-store on every response of the practice's pages. Their error pages (a Dutch/English page per HTTP
status, never a stack trace, never health data in a log line) are rendered with every other error in
service/errors_render.py."""

from __future__ import annotations

from service.web import security
from service.web.common import web


@web.after_request
def _no_store(response):
    return security.no_store(response)
