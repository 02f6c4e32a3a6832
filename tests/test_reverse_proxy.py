"""The README's nginx site, run as written (Debian's nginx) in front of a real `vigil dashboard`: TLS with HSTS,
a Secure session cookie, and a login throttle keyed by the client's address, which the client cannot spoof."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.running_vigil import vigil_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                       reason="nginx is not installed (`make test` installs it)"),
]
README = Path(__file__).resolve().parents[1] / "README.md"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PASSWORD = "correct horse battery"
ATTACKER, OPERATOR = "127.0.0.2", "127.0.0.3"
"""Browsers' addresses: on loopback, but not the proxy's (127.0.0.1), as on a real network; two, because the
proxy limits login attempts per address."""


def readme_site() -> str:
    return re.search(r"```nginx\n(.*?)```", README.read_text(), re.DOTALL).group(1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _until_listening(port: int, within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # polling a port that is being opened, not ordering work


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, sample_video) -> Iterator[int]:
    folder = tmp_path_factory.mktemp("proxied")
    port = _free_port()
    config = folder / "vigil.yaml"
    config.write_text(json.dumps({
        "cameras": {"lobby": {"url": str(sample_video)}},
        "storage": {"database": str(folder / "db" / "vigil.db"), "media_dir": str(folder / "media")},
        "dashboard": {"port": port, "trusted_proxies": ["127.0.0.1"], "secure_cookies": True},
    }))
    vigil_cli(config, {}, "user", "add", "vic", "--role", "viewer", password=PASSWORD)
    process = subprocess.Popen([sys.executable, "-m", "vigil", "dashboard", "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _until_listening(port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, dashboard: int) -> Iterator[int]:
    folder = tmp_path_factory.mktemp("nginx")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(folder / "privkey.pem"), "-out", str(folder / "fullchain.pem")],
                   check=True, capture_output=True, timeout=60)
    https, plain = _free_port(), _free_port()
    site = (readme_site()
            .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;")
            .replace("listen 80;", f"listen 127.0.0.1:{plain};")
            .replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{dashboard};")
            .replace("/etc/ssl/vigil/", f"{folder}/"))
    for temporary in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / temporary).mkdir(mode=0o777)
        (folder / temporary).chmod(0o777)  # nginx workers run as nobody
    (folder / "nginx.conf").write_text(
        f"daemon off; worker_processes 1; pid {folder}/nginx.pid; error_log {folder}/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{ access_log off; client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;\n"
        f"fastcgi_temp_path {folder}/fastcgi; uwsgi_temp_path {folder}/uwsgi; scgi_temp_path {folder}/scgi;\n"
        f"{site}\n}}\n"
    )
    checked = subprocess.run([NGINX, "-t", "-p", str(folder), "-c", str(folder / "nginx.conf")],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _until_listening(https)
        yield https
    finally:
        process.terminate()
        process.wait(timeout=30)


def _request(port: int, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None,
             client: str = OPERATOR) -> http.client.HTTPResponse:
    """One HTTPS request through the proxy from the `client` address."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, source_address=(client, 0),
                                             context=ssl._create_unverified_context())
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


def _login_form(port: int, client: str) -> tuple[str, str]:
    page = _request(port, "GET", "/login", client=client)
    [cookie] = [c.split(";", 1)[0] for c in page.headers.get_all("Set-Cookie") if c.startswith("vigil_session=")]
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.body).group(1).decode()
    return cookie, token


def _post_login(port: int, name: str, password: str, client: str = OPERATOR,
                spoofed: str | None = None) -> http.client.HTTPResponse:
    cookie, token = _login_form(port, client)
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    if spoofed:
        headers["X-Forwarded-For"] = spoofed
    form = f"name={name}&password={password.replace(' ', '+')}&csrf_token={token}"
    return _request(port, "POST", "/login", form, headers, client)


def _refusal(answer: http.client.HTTPResponse) -> str:
    """The login page's error line, if any."""
    found = re.search(rb'role="alert">([^<]*)<', answer.body)
    return found.group(1).decode() if found else ""


def test_the_readme_site_serves_tls_with_hsts_and_a_secure_cookie(proxy: int) -> None:
    page = _request(proxy, "GET", "/login")
    assert page.status == 200
    assert page.getheader("Strict-Transport-Security", "").startswith("max-age=31536000")
    assert "frame-ancestors 'none'" in page.getheader("Content-Security-Policy")
    answer = _post_login(proxy, "vic", PASSWORD)
    assert answer.status == 303
    cookies = answer.headers.get_all("Set-Cookie")
    assert cookies and all("; Secure" in cookie for cookie in cookies), cookies
    [session] = [cookie.split(";", 1)[0] for cookie in cookies if cookie.startswith("vigil_session=")]
    alerts = _request(proxy, "GET", "/alerts", headers={"Cookie": session})
    assert alerts.status == 200


def test_the_throttle_counts_the_client_behind_the_proxy_and_ignores_forged_addresses(proxy: int) -> None:
    answers = [_post_login(proxy, "nobody", "wrong password", ATTACKER, spoofed=f"198.51.100.{i}") for i in range(6)]
    assert [a.status for a in answers[:5]] == [401] * 5
    assert answers[5].status == 429 and "from your address" in _refusal(answers[5]), (
        "Vigil did not refuse the sixth try from this address: it believed the forged ones")
    elsewhere = _post_login(proxy, "nobody", "wrong password", OPERATOR)
    assert "from your address" not in _refusal(elsewhere), "another client shares the attacker's budget: the proxy's"
