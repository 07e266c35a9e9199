"""The shipped nginx configurations pass ``nginx -t`` and carry a websocket over TLS.

Each template is filled in the way its users fill it (envsubst of the named ${...} only, as
the nginx image and deploy/nginx.conf's instructions do), with the certificate made by
``make_tls_certificate`` and the upstream pointed at a real websocket server on loopback.
Debian's nginx runs the result; a client trusting only that certificate opens a websocket
through it and the server sees the upgrade with X-Forwarded-Proto https.
"""

import asyncio
import http.client
import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx-light; CI does)")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def envsubst(text: str, values: dict[str, str]) -> str:
    """What `envsubst '${A} ${B}'` does: only the named variables, nginx's own left alone."""
    return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) >= 1, f"the template no longer has {old!r}: update this test"
    return text.replace(old, new)


class Backend:
    """A websocket server standing in for daphne; remembers the headers of each upgrade."""

    def __init__(self):
        self.port = free_port()
        self.seen: list[dict] = []
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def echo(self, websocket):
        self.seen.append(dict(websocket.request.headers))
        async for message in websocket:
            await websocket.send(json.dumps({"echo": message,
                                             "path": websocket.request.path}))

    async def start(self):
        self.server = await serve(self.echo, "127.0.0.1", self.port)

    def __enter__(self):
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc):
        async def stop():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def nginx_main(tmp: Path, site: Path) -> Path:
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(exist_ok=True)
        (tmp / name).chmod(0o777)
    main = tmp / "nginx-main.conf"
    main.write_text(f"""
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {site};
}}
""")
    return main


def nginx_test(main: Path, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run([NGINX, "-t", "-c", str(main), "-e", str(tmp / "error.log")],
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def certificate(tmp_path):
    cert, key = tmp_path / "tls" / "fullchain.pem", tmp_path / "tls" / "privkey.pem"
    call_command("make_tls_certificate", "--certificate", str(cert), "--key", str(key),
                 "--host", "localhost", "--host", "127.0.0.1")
    return cert, key


def render(template: str, tmp: Path, cert: Path, key: Path, upstream: int, http: int,
           https: int) -> Path:
    text = envsubst((DEPLOY / template).read_text(), {
        "TRAPTAGGER_DOMAIN": "localhost", "TLS_CERTIFICATE": str(cert),
        "TLS_CERTIFICATE_KEY": str(key)})
    assert not [line for line in text.splitlines()
                if "${" in line and not line.lstrip().startswith("#")]
    for old in ("127.0.0.1:8000", "web1:8000", "web2:8000"):
        if old in text:
            text = text.replace(old, f"127.0.0.1:{upstream}")
    text = replace_once(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;")
    text = replace_once(text, "listen 80;", f"listen 127.0.0.1:{http};")
    text = text.replace("listen [::]:80;", "").replace("listen [::]:443 ssl http2;", "")
    site = tmp / f"{template}.rendered"
    site.write_text(text)
    return site


@pytest.mark.parametrize("template", ["nginx.conf", "nginx-compose-tls.conf"])
def test_websocket_upgrade_passes_through_nginx_over_tls(template, tmp_path, certificate):
    cert, key = certificate
    http_port, https_port = free_port(), free_port()
    with Backend() as backend:
        site = render(template, tmp_path, cert, key, backend.port, http_port, https_port)
        main = nginx_main(tmp_path, site)
        checked = nginx_test(main, tmp_path)
        assert checked.returncode == 0, checked.stderr
        server = subprocess.Popen([NGINX, "-c", str(main), "-e", str(tmp_path / "error.log")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                    break
                except OSError:
                    assert server.poll() is None, server.stderr.read().decode()
                    assert time.monotonic() < deadline, "nginx did not listen"
                    time.sleep(0.1)
            trusted = ssl.create_default_context(cafile=str(cert))

            async def talk():
                async with connect(f"wss://localhost:{https_port}/ws/annotate/7/",
                                   ssl=trusted) as websocket:
                    await websocket.send("label z")
                    return json.loads(await websocket.recv())

            answer = asyncio.run(talk())
            assert answer == {"echo": "label z", "path": "/ws/annotate/7/"}
            headers = {k.lower(): v for k, v in backend.seen[-1].items()}
            assert headers["x-forwarded-proto"] == "https"
            assert headers["upgrade"].lower() == "websocket"
            assert headers["x-forwarded-for"] == "127.0.0.1"

            plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
            plain.request("GET", "/accounts/login/?next=/admin/", headers={"Host": "localhost"})
            moved = plain.getresponse()
            assert moved.status == 301
            assert moved.getheader("Location") == \
                "https://localhost/accounts/login/?next=/admin/"

            secure = http.client.HTTPSConnection("localhost", https_port, context=trusted,
                                                 timeout=5)
            secure.request("GET", "/")
            answered = secure.getresponse()
            assert "max-age=31536000" in answered.getheader("Strict-Transport-Security", "")
            assert secure.sock.version() in {"TLSv1.2", "TLSv1.3"}
            assert "ssl_protocols TLSv1.2 TLSv1.3;" in site.read_text()

        finally:
            server.terminate()
            server.wait(10)


def test_nginx_refuses_the_template_without_a_certificate(tmp_path):
    site = render("nginx-compose-tls.conf", tmp_path, tmp_path / "absent.pem",
                  tmp_path / "absent.key", free_port(), free_port(), free_port())
    checked = nginx_test(nginx_main(tmp_path, site), tmp_path)
    assert checked.returncode != 0 and "absent.pem" in checked.stderr


def test_a_real_certificate_already_there_is_kept(tmp_path, certificate):
    cert, key = certificate
    before = cert.read_bytes()
    call_command("make_tls_certificate", "--certificate", str(cert), "--key", str(key))
    assert cert.read_bytes() == before
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    key.unlink()
    from django.core.management.base import CommandError
    with pytest.raises(CommandError, match="privkey.pem"):
        call_command("make_tls_certificate", "--certificate", str(cert), "--key", str(key))
