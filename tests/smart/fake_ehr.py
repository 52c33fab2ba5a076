"""A fake SMART EHR on a loopback port (discovery, auto-approving OAuth, id_tokens good and bad, FHIR proxy) for tests."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import threading
import time
import warnings
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask, Response, jsonify, redirect, request
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import OctKey, RSAKey
from werkzeug.serving import make_server

from service.fhir import urls

KID = "fake-1"
EVIL_ISSUER = "https://evil.example/auth"
DEFAULT_SCOPE = "launch openid fhirUser offline_access patient/*.rs user/PractitionerRole.r user/Practitioner.r"
ID_TOKEN_MODES = frozenset(
    {"good", "wrong-issuer", "unsigned", "hs256", "expired", "wrong-audience", "missing", "other-key"}
)
CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-ehr-patient",
]
FORWARDED_HEADERS = ("content-type", "accept", "if-none-exist", "if-match")


def _b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _oauth_error(error: str, description: str, status: int = 400) -> tuple[Response, int]:
    return jsonify({"error": error, "error_description": description}), status


def _outcome(status: int, code: str, text: str) -> Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    return Response(json.dumps(body), status=status, content_type="application/fhir+json")


class FakeEhr:
    """A SMART EHR that auto-approves every authorization and answers with the id_token `id_token_mode` asks for.

    The token endpoint does not authenticate the client, but it does hold the EHR to the code: an unknown or
    reused code, or a code_verifier that does not match the code_challenge, is answered with invalid_grant.
    """

    def __init__(
        self,
        *,
        fhir_upstream: str | None = None,
        client_id: str = "kansrijke-start",
        id_token_mode: str = "good",
        fhir_user: str = "PractitionerRole/demo-gp",
        patient: str = "demo-pregnant",
    ) -> None:
        if id_token_mode not in ID_TOKEN_MODES:
            raise ValueError(f"unknown id_token_mode {id_token_mode!r}; one of {sorted(ID_TOKEN_MODES)}")
        self.fhir_upstream = fhir_upstream.rstrip("/") if fhir_upstream else None
        self.client_id = client_id
        self.id_token_mode = id_token_mode
        self.fhir_user = fhir_user
        self.patient = patient
        self.requests: list[dict[str, Any]] = []
        self.discovery_overrides: dict[str, Any] = {}
        self.discovery_redirect: str | None = None  # set: discovery answers 302 to this URL instead
        self.key = RSAKey.generate_key(2048, parameters={"kid": KID, "alg": "RS256", "use": "sig"})
        self._other_key: RSAKey | None = None
        self._lock = threading.Lock()
        self._codes: dict[str, dict[str, str | None]] = {}
        self._refresh_tokens: set[str] = set()
        self._server = make_server("127.0.0.1", 0, self._app(), threaded=True)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.fhir_base = self.base + "/fhir"
        self.issuer = self.base + "/auth"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def launch_url(self, app_base: str) -> str:
        """How this EHR opens the app: {app}/launch?iss={fhir base}&launch={opaque}."""
        return (
            f"{app_base.rstrip('/')}/launch?{urlencode({'iss': self.fhir_base, 'launch': secrets.token_urlsafe(16)})}"
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeEhr:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------- the WSGI app

    def _app(self) -> Flask:
        app = Flask(__name__)
        app.before_request(self._record)
        app.get("/fhir/.well-known/smart-configuration")(self._discovery)
        app.get("/auth/authorize")(self._authorize)
        app.post("/auth/token")(self._token)
        app.get("/auth/jwks")(self._jwks)
        app.get("/fhir/metadata")(self._metadata)
        app.post("/fhir", defaults={"path": ""})(self._fhir)
        app.route("/fhir/<path:path>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])(self._fhir)
        return app

    def _record(self) -> None:
        request.get_data()  # cache the body first, so that reading the form leaves it for the proxy
        entry = {
            "method": request.method,
            "path": request.path,
            "query": request.args.to_dict(),
            "headers": dict(request.headers),
            "form": request.form.to_dict(),
        }
        with self._lock:
            self.requests.append(entry)

    def _discovery(self) -> Response:
        if self.discovery_redirect:
            return redirect(self.discovery_redirect)
        auth = self.issuer
        config: dict[str, Any] = {
            "issuer": auth,
            "authorization_endpoint": auth + "/authorize",
            "token_endpoint": auth + "/token",
            "jwks_uri": auth + "/jwks",
            "code_challenge_methods_supported": ["S256"],
            "capabilities": list(CAPABILITIES),
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "private_key_jwt"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "response_types_supported": ["code"],
        }
        config.update(self.discovery_overrides)
        return jsonify(config)

    def _authorize(self) -> Response | tuple[Response, int]:
        redirect_uri = request.args.get("redirect_uri")
        if not redirect_uri:
            return _oauth_error("invalid_request", "redirect_uri is required")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "redirect_uri": redirect_uri,
                "scope": request.args.get("scope"),
                "code_challenge": request.args.get("code_challenge"),
            }
        query = {"code": code, "state": request.args.get("state", "")}
        response = Response(status=302)
        response.headers["Location"] = redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(query)
        return response

    def _token(self) -> Response | tuple[Response, int]:
        grant_type = request.form.get("grant_type")
        if grant_type == "authorization_code":
            with self._lock:
                code = self._codes.pop(request.form.get("code", ""), None)  # used once, whatever happens next
            if code is None:
                return _oauth_error("invalid_grant", "unknown or used code")
            if code["redirect_uri"] != request.form.get("redirect_uri"):
                return _oauth_error("invalid_grant", "redirect_uri differs from the authorization request")
            challenge = code["code_challenge"]
            if challenge and _s256(request.form.get("code_verifier", "")) != challenge:
                return _oauth_error("invalid_grant", "code_verifier does not match the code_challenge")
            scope = request.form.get("scope") or code["scope"] or DEFAULT_SCOPE
        elif grant_type == "refresh_token":
            with self._lock:
                known = request.form.get("refresh_token", "") in self._refresh_tokens
                self._refresh_tokens.discard(request.form.get("refresh_token", ""))
            if not known:
                return _oauth_error("invalid_grant", "unknown refresh_token")
            scope = request.form.get("scope") or DEFAULT_SCOPE
        else:
            return _oauth_error("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        refresh_token = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh_tokens.add(refresh_token)
        token: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": scope,
            "patient": self.patient,
            "need_patient_banner": True,
            "refresh_token": refresh_token,
        }
        id_token = self.id_token()
        if id_token is not None:
            token["id_token"] = id_token
        response = jsonify(token)
        response.headers["Cache-Control"] = "no-store"
        return response

    def _jwks(self) -> Response:
        return jsonify({"keys": [self.key.as_dict(private=False)]})

    def _metadata(self) -> Response:
        if self.fhir_upstream:
            return self._fhir("metadata")
        body = {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "date": "2026-01-01",
            "rest": [
                {
                    "mode": "server",
                    "security": urls.smart_security(authorize=self.issuer + "/authorize", token=self.issuer + "/token"),
                }
            ],
        }
        return Response(json.dumps(body), content_type="application/fhir+json")

    def _fhir(self, path: str) -> Response:
        if not self.fhir_upstream:
            return _outcome(404, "not-found", f"This fake EHR has no FHIR server behind it ({request.method} /{path}).")
        upstream = self.fhir_upstream
        try:
            answer = requests.request(
                request.method,
                f"{upstream}/{path}" if path else upstream,
                params=list(request.args.items(multi=True)),
                data=request.get_data(),
                headers={k: v for k, v in request.headers.items() if k.lower() in FORWARDED_HEADERS},
                timeout=(3.05, 30),
            )
        except requests.RequestException:
            return _outcome(502, "transient", "The FHIR server behind the fake EHR is not reachable.")
        response = Response(
            answer.content.replace(upstream.encode(), self.fhir_base.encode()),
            status=answer.status_code,
            content_type=answer.headers.get("Content-Type", "application/fhir+json"),
        )
        for name in ("Location", "Content-Location", "ETag", "Last-Modified"):
            if name in answer.headers:
                response.headers[name] = answer.headers[name].replace(upstream, self.fhir_base)
        return response

    # --------------------------------------------------------------------------------------- id_tokens

    def id_token(self) -> str | None:
        """The id_token the current `id_token_mode` asks for; None for "missing"."""
        mode = self.id_token_mode
        if mode not in ID_TOKEN_MODES:
            raise ValueError(f"unknown id_token_mode {mode!r}")
        if mode == "missing":
            return None
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.fhir_user.rsplit("/", 1)[-1],
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "fhirUser": f"{self.fhir_base}/{self.fhir_user}",
        }
        header = {"alg": "RS256", "kid": KID, "typ": "JWT"}
        if mode == "wrong-issuer":
            claims["iss"] = EVIL_ISSUER
        elif mode == "expired":
            claims.update(iat=now - 7200, exp=now - 3600)
        elif mode == "wrong-audience":
            claims["aud"] = "another-app"
        elif mode == "unsigned":
            return f"{_b64url({'alg': 'none', 'typ': 'JWT'})}.{_b64url(claims)}."
        elif mode == "hs256":
            with warnings.catch_warnings():  # a short client_id is a weak HMAC secret: that is the point here
                warnings.simplefilter("ignore", SecurityWarning)
                secret = OctKey.import_key(self.client_id)
            return jwt.encode({**header, "alg": "HS256"}, claims, secret)
        elif mode == "other-key":
            if self._other_key is None:
                self._other_key = RSAKey.generate_key(2048, parameters={"kid": KID, "alg": "RS256", "use": "sig"})
            return jwt.encode(header, claims, self._other_key)
        return jwt.encode(header, claims, self.key)


class CountingServer:
    """A bare HTTP server on loopback that answers 200 "{}" to everything and keeps the path of every request."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits, lock = self.hits, threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                with lock:
                    hits.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(b"{}")

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def plain_counting_server() -> CountingServer:
    """A server that must see no requests: point an unregistered iss at it and assert `hits == []`."""
    return CountingServer()
