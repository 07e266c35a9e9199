"""core.fetch against servers that drip and addresses that tunnel to the loopback.

The dripping servers are real loopback sockets; each stops dripping after
``DRIP_FOR`` seconds, so that a fetcher without a whole-request deadline fails the
timing assertion in bounded time instead of hanging the run.
"""

import socket
import ssl
import threading
import time

import pytest

from core.fetch import Fetcher, FetchRefused, address_problem

pytestmark = pytest.mark.hostile

DEADLINE = 2.0
MARGIN = 1.0
DRIP_FOR = 8.0


class DripServer:
    """Loopback TCP server: reads the request, then ``script(conn, stop)`` talks."""

    def __init__(self, script):
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.script = script
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        with conn:
            conn.settimeout(1)
            try:
                self.script(conn, self.stop)
            except OSError:
                pass  # the client hung up: what a deadline does

    def close(self):
        self.stop.set()
        self.listener.close()
        self.thread.join(2)


def drip(conn, stop, data: bytes, every: float):
    started = time.monotonic()
    for i in range(len(data)):
        if stop.is_set() or time.monotonic() - started > DRIP_FOR:
            return
        conn.sendall(data[i:i + 1])
        time.sleep(every)


def read_request(conn):
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(4096)
        if not chunk:
            return
        received += chunk


def body_drip(conn, stop):
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    drip(conn, stop, b"x" * 1000, 0.5)


def header_drip(conn, stop):
    read_request(conn)
    drip(conn, stop, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: 1\r\n" * 60, 0.05)


def status_drip(conn, stop):
    read_request(conn)
    drip(conn, stop, b"HTTP/1.1 200 OK\r\n", 0.5)


def silent(conn, stop):
    stop.wait(DRIP_FOR)  # accepts, then says nothing (e.g. no TLS server hello)


def slow_redirects(conn, stop):
    read_request(conn)
    time.sleep(0.6)
    conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def serve():
    servers = []

    def start(script):
        servers.append(DripServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def fetcher(**kwargs):
    return Fetcher(resolver=lambda host, port: ["127.0.0.1"], allowed_hosts=["drip.test"],
                   max_bytes=10_000, seconds=DEADLINE, **kwargs)


@pytest.mark.parametrize("script, scheme", [
    (body_drip, "http"), (header_drip, "http"), (status_drip, "http"), (silent, "http"),
    (silent, "https"), (slow_redirects, "http"),
])
def test_the_deadline_bounds_the_whole_request(serve, script, scheme):
    server = serve(script)
    started = time.monotonic()
    with pytest.raises(FetchRefused, match=r"took longer than 2 s in all "
                                           r"\(FETCH_TIMEOUT_SECONDS\)"):
        fetcher().fetch(f"{scheme}://drip.test:{server.port}/file.jpg")
    took = time.monotonic() - started
    assert took < DEADLINE + MARGIN, f"{script.__name__} over {scheme} took {took:.1f} s"
    assert server.connections >= 1


def test_a_slow_name_lookup_is_within_the_deadline():
    def slow(host, port):
        time.sleep(DEADLINE + 3)
        return ["93.184.216.34"]

    started = time.monotonic()
    with pytest.raises(FetchRefused, match="took longer than"):
        Fetcher(resolver=slow, seconds=DEADLINE).fetch("http://slow.example/x.jpg")
    assert time.monotonic() - started < DEADLINE + MARGIN


def test_a_prompt_server_is_still_read_whole(serve):
    def prompt(conn, stop):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"y" * 5000)

    server = serve(prompt)
    assert fetcher().fetch(f"http://drip.test:{server.port}/ok") == b"y" * 5000


TEREDO_OF_LOOPBACK = "2001:0:4136:e378:8000:63bf:80ff:fffe"  # client 127.0.0.1, XOR-ed


@pytest.mark.parametrize("address, form", [
    ("2002:7f00:1::", "6to4"),                # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::1", "6to4"),            # 6to4 of 169.254.169.254
    ("2002:5db8:d822::", "6to4"),             # 6to4 even of a public address: a tunnel
    (TEREDO_OF_LOOPBACK, "Teredo"),
    ("64:ff9b::7f00:1", "NAT64"),             # NAT64 of 127.0.0.1
    ("64:ff9b::a00:1", "NAT64"),              # NAT64 of 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "NAT64"),          # NAT64 of 169.254.169.254
    ("64:ff9b:1:7f00:0:100::", "local-use NAT64"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("::10.0.0.1", "IPv4-compatible"),
    ("::ffff:0:127.0.0.1", "IPv4-translated"),
    ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:192.168.0.1", "IPv4-mapped"),
    ("fec0::1", "site-local"),
])
def test_ipv6_forms_that_carry_a_private_ipv4_are_refused(address, form):
    problem = address_problem(address)
    assert problem is not None and form in problem, problem


def test_the_embedded_address_is_named():
    assert "127.0.0.1" in address_problem("2002:7f00:1::")
    assert "127.0.0.1" in address_problem(TEREDO_OF_LOOPBACK)
    assert "127.0.0.1" in address_problem("64:ff9b:1:7f00:0:100::")


def test_nat64_and_mapped_forms_of_public_addresses_pass():
    assert address_problem("64:ff9b::5db8:d822") is None  # 93.184.216.34
    assert address_problem("::ffff:93.184.216.34") is None


@pytest.mark.parametrize("address", ["2002:7f00:1::", TEREDO_OF_LOOPBACK, "64:ff9b::7f00:1"])
def test_a_host_resolving_to_a_tunnel_is_not_connected_to(address, monkeypatch):
    attempts = []
    monkeypatch.setattr(socket, "create_connection",
                        lambda *args, **kwargs: attempts.append(args) or 1 / 0)
    with pytest.raises(FetchRefused, match="never fetched"):
        Fetcher(resolver=lambda host, port: [address], allowed_hosts=[],
                seconds=DEADLINE).fetch("http://tunnel.example/x.jpg")
    assert attempts == []


def test_tls_is_still_checked(serve):
    """The deadline wrapper keeps certificate checks: a plain server fails the handshake."""
    def plain(conn, stop):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")

    server = serve(plain)
    with pytest.raises(FetchRefused, match="cannot be reached") as refused:
        fetcher().fetch(f"https://drip.test:{server.port}/x")
    assert isinstance(refused.value.__cause__, ssl.SSLError | OSError)
