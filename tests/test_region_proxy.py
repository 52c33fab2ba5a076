"""The region's deployment (issue 16 point 4): docker-compose.region.yml validates and says what it must, and its
reverse proxy's config (deploy/nginx/kansrijk.conf.template) runs for real: Debian's nginx on loopback (the same
file, filled in for ports and paths) in front of two real gunicorn instances of the service on one real
PostgreSQL (tests/postgres.py), with the service's own role and a separate schema owner.

Which instance answered a request is read from the instances' own gunicorn access logs (the test's requests carry
an `X-Ks-Test` number, which only this test's gunicorn log format writes): requests alternate between the
instances, a SMART launch started through one instance finishes through the other, one instance killed leaves
every request answered, and both down gives the proxy's Dutch page or OperationOutcome, never nginx's or
gunicorn's own HTML."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from service.embedded.sekmet import free_port

ROOT = Path(__file__).resolve().parent.parent
REGION = ROOT / "docker-compose.region.yml"
TEMPLATE = ROOT / "deploy" / "nginx" / "kansrijk.conf.template"
VENV_BIN = Path(sys.executable).parent
SECRETS = {
    "KS_SECRET_KEY": "s" * 48,
    "KS_SERVICE_DB_PASSWORD": "service-password",
    "KS_OWNER_DB_PASSWORD": "owner-password",
    "HAPI_DB_PASSWORD": "hapi-password",
    "POSTGRES_PASSWORD": "superuser-password",
    "KS_PUBLIC_URL": "https://kansrijk.regio.example",
}


# ------------------------------------------------------------------------------------------- the compose file


def _compose(env: dict[str, str]) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: `make test` installs it (make system-deps)", pytrace=False)
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [exe, "-f", str(REGION), "config", "-q"], capture_output=True, text=True, env={**base, **env}, timeout=60
    )


def test_region_compose_validates_and_refuses_to_start_without_its_secrets():
    result = _compose(SECRETS)
    assert result.returncode == 0, result.stderr
    for missing in ("KS_SECRET_KEY", "KS_SERVICE_DB_PASSWORD", "KS_OWNER_DB_PASSWORD"):
        result = _compose({k: v for k, v in SECRETS.items() if k != missing})
        assert result.returncode != 0 and missing in result.stderr, missing


def test_region_compose_runs_two_replicas_behind_nginx_on_postgresql():
    compose = yaml.safe_load(REGION.read_text())
    services = compose["services"]
    replicas = [services["kansrijk-1"], services["kansrijk-2"]]
    for replica in replicas:
        assert replica["build"] == "." and "healthcheck" in replica and "ports" not in replica
        env = replica["environment"]
        assert env["KS_DATABASE_URL"].startswith("postgresql://ks_service:")
        assert "KS_DATABASE_OWNER_URL" not in env  # the service's role runs; the owner only migrates (db-upgrade)
        assert "gunicorn" in replica["command"] and "python:service.gunicorn_conf" in replica["command"]
        assert replica["depends_on"]["db-upgrade"]["condition"] == "service_completed_successfully"
    assert replicas[0]["environment"] == replicas[1]["environment"]
    upgrade = services["db-upgrade"]
    assert upgrade["command"] == ["kansrijk", "db", "upgrade"]
    assert upgrade["environment"]["KS_DATABASE_OWNER_URL"].startswith("postgresql://ks_owner:")
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:") and "latest" not in proxy["image"]
    assert sorted(p.split(":")[-2] for p in proxy["ports"]) == ["443", "80"]
    assert any("kansrijk.conf.template:/etc/nginx/templates/" in v for v in proxy["volumes"])
    assert proxy["environment"]["KS_UPSTREAM_1"] == "kansrijk-1:8080"
    assert proxy["environment"]["KS_UPSTREAM_2"] == "kansrijk-2:8080"
    assert [name for name, s in services.items() if s.get("ports")] == ["proxy"]  # only the proxy is reachable
    for name, service in services.items():
        if service.get("restart") != "no":  # every long-running service says when it is healthy
            assert "healthcheck" in service, name
    hapi = services["hapi"]
    assert hapi["environment"]["spring.datasource.url"] == "jdbc:postgresql://postgres:5432/hapi"
    demo = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    hapi_settings = {k: v for k, v in hapi["environment"].items() if k.startswith("hapi.fhir.")}
    assert hapi_settings == demo["x-hapi-settings"] and hapi["image"] == demo["services"]["hapi"]["image"]


# --------------------------------------------------------------------------------- nginx, two instances, one database


def fill(template: str, values: dict[str, str]) -> str:
    """The template with each ${KS_...} replaced, as the nginx image's envsubst does (nginx's $variables stay)."""
    filled = re.sub(r"\$\{(KS_[A-Z0-9_]+)\}", lambda m: values[m.group(1)], template)
    assert "${" not in filled
    return filled


class Region:
    """Two gunicorn instances of the service on one PostgreSQL database, behind Debian's nginx on loopback."""

    def __init__(self, root: Path, postgres, fhir_base_url: str):
        self.root = root
        self.https_port, self.http_port = free_port(), free_port()
        self.base = f"https://127.0.0.1:{self.https_port}"
        self.ports = [free_port(), free_port()]
        self.instances: list[subprocess.Popen] = []
        self.nginx: subprocess.Popen | None = None
        self.numbers = itertools.count(1)
        self.cert = self._certificate()
        self.env = self._environment(postgres, fhir_base_url)

    def _certificate(self) -> Path:
        cert, key = self.root / "tls.crt", self.root / "tls.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return cert

    def _environment(self, postgres, fhir_base_url: str) -> dict[str, str]:
        """The two roles of the compose file: the schema's owner (migrates) and the service's (runs)."""
        n = next(_roles)
        owner, service = f"ks_owner_{n}", f"ks_service_{n}"
        postgres.sql(f"CREATE ROLE {owner} LOGIN PASSWORD 'owner'")
        postgres.sql(f"CREATE ROLE {service} LOGIN PASSWORD 'service'")
        database = postgres.new_database(owner=owner)
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("KS_")},
            "KS_ENV": "development",
            "KS_DATABASE_URL": postgres.dsn(database, service, "service"),
            "KS_FHIR_BASE_URL": fhir_base_url,
            "KS_SANDBOX": "1",
            "KS_PUBLIC_URL": self.base,
            "KS_OUTBOX_WORKER": "off",
            # the instances reach the sandbox EHR at KS_PUBLIC_URL, through the proxy and its test certificate
            "REQUESTS_CA_BUNDLE": str(self.cert),
            "OWNER_URL": postgres.dsn(database, owner, "owner"),
        }

    def migrate(self) -> None:
        env = {**self.env, "KS_DATABASE_OWNER_URL": self.env["OWNER_URL"], "KS_DATA_DIR": str(self.root / "cli")}
        done = subprocess.run([str(VENV_BIN / "kansrijk"), "db", "upgrade"], env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-2000:]

    def start_instance(self, i: int) -> None:
        env = {**self.env, "KS_DATA_DIR": str(self.root / f"instance{i}")}
        log = open(self.root / f"gunicorn{i}.log", "ab")  # noqa: SIM115 - the child keeps its own descriptor
        self.instances.append(
            subprocess.Popen(
                [
                    str(VENV_BIN / "gunicorn"),
                    "-c",
                    "python:service.gunicorn_conf",
                    "--workers",
                    "1",
                    "--threads",
                    "4",
                    "--bind",
                    f"127.0.0.1:{self.ports[i]}",
                    "--access-logfile",
                    str(self.access_log(i)),
                    "--access-logformat",
                    "%({x-ks-test}i)s %(s)s",
                    "service:create_app()",
                ],
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
                cwd=self.root,
            )
        )
        log.close()

    def access_log(self, i: int) -> Path:
        return self.root / f"access{i}.log"

    def wait_healthy(self, i: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{self.ports[i]}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or its worker still loading the app
                pass
            if self.instances[i].poll() is not None or time.monotonic() > deadline:
                log = (self.root / f"gunicorn{i}.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"instance {i} did not become healthy: {log}", pytrace=False)
            time.sleep(0.3)

    def start_proxy(self) -> None:
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(exe).exists():
            pytest.fail("nginx is not installed: `make test` installs Debian's nginx (make system-deps)", pytrace=False)
        pages = self.root / "pages"
        made = subprocess.run(
            [sys.executable, "-m", "service.proxy_pages", str(pages)], capture_output=True, timeout=60
        )
        assert made.returncode == 0, made.stderr.decode()
        site = fill(
            TEMPLATE.read_text(),
            {
                "KS_UPSTREAM_1": f"127.0.0.1:{self.ports[0]}",
                "KS_UPSTREAM_2": f"127.0.0.1:{self.ports[1]}",
                "KS_PROXY_HTTP_PORT": f"127.0.0.1:{self.http_port}",
                "KS_PROXY_HTTPS_PORT": f"127.0.0.1:{self.https_port}",
                "KS_PROXY_SERVER_NAME": "127.0.0.1",
                "KS_PUBLIC_URL": self.base,
                "KS_TLS_CERTIFICATE": str(self.cert),
                "KS_TLS_CERTIFICATE_KEY": str(self.root / "tls.key"),
                "KS_PROXY_PAGES": str(pages),
                "KS_PROXY_ACCESS_LOG": str(self.root / "nginx-access.log"),
            },
        )
        (self.root / "kansrijk.conf").write_text(site)
        temp = self.root / "nginx-temp"
        temp.mkdir()
        # as the image's nginx.conf: the site inside http { }, with mime.types; here in the foreground, one worker
        (self.root / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"daemon off;\nworker_processes 1;\npid {self.root}/nginx.pid;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
            + "".join(f"  {kind}_temp_path {temp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            + f"  include {self.root}/kansrijk.conf;\n}}\n"
        )  # fmt: skip
        args = [
            exe,
            "-p",
            str(self.root),
            "-c",
            str(self.root / "nginx.conf"),
            "-e",
            str(self.root / "nginx-error.log"),
        ]
        checked = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        self.nginx = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{self.http_port}/", allow_redirects=False, timeout=2)
                return
            except requests.ConnectionError:
                if self.nginx.poll() is not None or time.monotonic() > deadline:
                    pytest.fail((self.root / "nginx-error.log").read_text(errors="replace"), pytrace=False)
                time.sleep(0.1)

    def get(self, session: requests.Session, url: str, **kwargs) -> tuple[requests.Response, int]:
        """A GET through the proxy (a path, or a URL of the public base); the response and the request's number."""
        number = next(self.numbers)
        path = url.removeprefix(self.base)
        headers = {"X-Ks-Test": str(number), **kwargs.pop("headers", {})}
        response = session.get(self.base + path, headers=headers, verify=str(self.cert), timeout=60, **kwargs)
        return response, number

    def answered_by(self, number: int, timeout: float = 5) -> int:
        """The instance whose access log has request `number`."""
        deadline = time.monotonic() + timeout
        while True:
            for i in (0, 1):
                path = self.access_log(i)
                if path.exists() and any(line.split(" ")[0] == str(number) for line in path.read_text().splitlines()):
                    return i
            if time.monotonic() > deadline:
                pytest.fail(f"request {number} is in neither instance's access log", pytrace=False)
            time.sleep(0.05)

    def kill(self, i: int) -> None:
        """SIGKILL to the instance's whole process group (gunicorn's arbiter and its worker)."""
        proc = self.instances[i]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)

    def stop(self) -> None:
        for i in range(len(self.instances)):
            self.kill(i)
        if self.nginx is not None and self.nginx.poll() is None:
            os.killpg(self.nginx.pid, signal.SIGTERM)
            self.nginx.wait(timeout=20)


_roles = itertools.count(1)


@pytest.fixture(scope="module")
def region(postgres_server, sekmet_demo, tmp_path_factory):
    root = Path(tmp_path_factory.mktemp("region"))
    region = Region(root, postgres_server, sekmet_demo.base_url)
    try:
        region.migrate()
        for i in (0, 1):
            region.start_instance(i)
        for i in (0, 1):
            region.wait_healthy(i)
        region.start_proxy()
        yield region
    finally:
        region.stop()


def test_plain_http_is_redirected_to_https_and_the_health_check_passes(region):
    r = requests.get(f"http://127.0.0.1:{region.http_port}/form?x=1", allow_redirects=False, timeout=10)
    assert r.status_code == 301 and r.headers["Location"] == f"{region.base}/form?x=1"
    r, _ = region.get(requests.Session(), "/healthz")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/health+json"
    assert r.json() == {"status": "pass"} and "max-age=" in r.headers["Strict-Transport-Security"]


def test_requests_alternate_between_the_instances(region):
    session = requests.Session()
    numbers = []
    for _ in range(8):
        r, number = region.get(session, "/fhir/metadata")
        assert r.status_code == 200 and r.json()["resourceType"] == "CapabilityStatement"
        numbers.append(number)
    served = [region.answered_by(n) for n in numbers]
    assert set(served) == {0, 1} and all(a != b for a, b in itertools.pairwise(served)), served


def _launch(region, session: requests.Session) -> tuple[int, int]:
    """A sandbox EHR launch through the proxy up to the form: the instances that answered /launch and /callback."""
    r, number = region.get(session, "/sandbox/launch", params={"patient": "demo-pregnant", "user": "demo-gp"},
                           allow_redirects=False)  # fmt: skip
    hops = {}
    while r.status_code in (301, 302, 303) and not r.headers["Location"].endswith("/form"):
        location = r.headers["Location"]
        r, number = region.get(session, location, allow_redirects=False)
        hops[location.removeprefix(region.base).split("?")[0]] = number
    assert r.status_code == 302 and r.headers["Location"].endswith("/form"), (r.status_code, r.text[:500])
    assert {"/launch", "/callback"} <= hops.keys(), hops
    return region.answered_by(hops["/launch"]), region.answered_by(hops["/callback"])


def test_a_launch_started_through_one_instance_finishes_through_the_other(region):
    """Round-robin puts the hops of a launch on both instances (the instances' own calls to the sandbox EHR through
    the proxy shift the turn, so which hop lands where is not fixed); launches are repeated, each one must succeed
    and its form open at both instances, until one has crossed between /launch and /callback."""
    crossed = False
    for _ in range(6):
        session = requests.Session()
        launched, called_back = _launch(region, session)
        forms: set[int] = set()
        for _ in range(6):  # the form opens at either instance with the session of that launch
            form, number = region.get(session, "/form")
            assert form.status_code == 200 and "Lisa de Boer" in form.text, form.status_code
            forms.add(region.answered_by(number))
            if forms == {0, 1}:
                break
        assert forms == {0, 1}
        if launched != called_back:
            crossed = True
            break
    assert crossed, "no launch crossed between the instances in 6 tries"


def _refuses_like_nginx_or_gunicorn(body: str) -> bool:
    return "nginx" in body.lower() or "gunicorn" in body.lower() or "<center>" in body


def test_one_instance_down_requests_are_answered_both_down_the_proxy_answers_for_the_service(region):
    region.kill(0)
    session = requests.Session()
    numbers = []
    for path in ("/fhir/metadata", "/healthz", "/fhir/metadata", "/healthz", "/fhir/metadata", "/healthz"):
        r, number = region.get(session, path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        numbers.append(number)
    assert {region.answered_by(n) for n in numbers} == {1}
    # a POST too (the API refuses the empty body itself: it was answered by the living instance, not lost)
    r = session.post(f"{region.base}/fhir/QuestionnaireResponse/$validate", data=b"{}", verify=str(region.cert),
                     headers={"Content-Type": "application/fhir+json"}, timeout=30)  # fmt: skip
    assert r.status_code < 500 and r.json()["resourceType"] in ("OperationOutcome", "Parameters"), r.text[:300]

    region.kill(1)
    page, _ = region.get(session, "/form")
    assert page.status_code == 502 and page.headers["Content-Type"].startswith("text/html")
    assert "De service is even niet bereikbaar" in page.text and '<html lang="nl">' in page.text
    assert not _refuses_like_nginx_or_gunicorn(page.text) and page.headers["Cache-Control"] == "no-store"
    css, _ = region.get(session, "/_ks_proxy/app.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    api, _ = region.get(session, "/fhir/metadata")
    assert api.status_code == 502 and api.headers["Content-Type"] == "application/fhir+json"
    issue = api.json()["issue"][0]
    assert issue["code"] == "transient" and issue["details"]["text"] == issue["diagnostics"]
    assert issue["diagnostics"].startswith("De service is tijdelijk niet bereikbaar")
    english, _ = region.get(session, "/fhir/metadata", headers={"Accept-Language": "en-GB, nl;q=0.5"})
    assert english.json()["issue"][0]["details"]["text"].startswith("The service is temporarily unavailable")
    page_en, _ = region.get(session, "/inbox", headers={"Accept-Language": "en"})
    assert page_en.status_code == 502 and "The service cannot be reached" in page_en.text
