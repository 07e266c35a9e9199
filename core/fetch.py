"""Fetching a file from a URL someone else named, without reaching the server's own network.

A URL in a user's CSV could name ``http://169.254.169.254/`` (cloud metadata),
``http://localhost:6379/`` or a host whose DNS answer is a private address (SSRF).
``Fetcher.fetch`` therefore:

* takes only ``http`` and ``https``;
* resolves the host itself and refuses every address that is not global unicast
  (loopback, private, link-local, site-local, multicast, reserved, unspecified, shared
  address space; IPv4 and IPv6). IPv6 forms that carry an IPv4 address are judged by
  it or refused: IPv4-mapped (``::ffff:a.b.c.d``) and well-known NAT64
  (``64:ff9b::/96``) by the address inside; 6to4 (``2002::/16``), Teredo
  (``2001::/32``, whose client address is XOR-ed), local-use NAT64
  (``64:ff9b:1::/48``), IPv4-compatible and IPv4-translated forms always, since
  they tunnel to an address no check sees;
* connects to the very address it checked (a second DNS answer cannot differ:
  no DNS rebinding), sending the name in ``Host`` and, for https, in SNI and the
  certificate check;
* follows redirects itself, checking every hop the same way;
* caps the bytes read (``FETCH_MAX_BYTES``) and the time taken in all
  (``FETCH_TIMEOUT_SECONDS``): one deadline bounds the name lookup, connecting, the
  TLS handshake, sending, the headers and the body, every redirect included. (A
  socket timeout alone bounds each read, so a server dripping a byte every half
  second would keep a fetch alive for ever: every read here may wait only until
  the deadline.)

Hosts named in ``settings.FETCH_ALLOWED_HOSTS`` (the operator's choice, e.g. a
dataset server on the local network; the tests' loopback server) skip the
address check.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import io
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from .exceptions import UserError

Resolver = Callable[[str, int], Iterable[str]]
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5


class FetchRefused(UserError):
    """The URL is not fetched: a scheme, address or size the rules refuse, or a failure."""


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses as the system resolver gives them (IPv4 and IPv6)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchRefused(f"the host {host!r} cannot be resolved ({exc.strerror})") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


def _embedded(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address, bool] | None:
    """(form, IPv4 address inside, judged by it) for an IPv6 address that carries one."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped, True
    if ip in _NAT64:
        return "NAT64", low32, True
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour, False
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1], False
    if ip in _NAT64_LOCAL:  # RFC 6052 /48: the IPv4 address around the "u" octet
        value = int(ip)
        inside = ((value >> 64) & 0xFFFF) << 16 | (value >> 40) & 0xFFFF
        return "local-use NAT64", ipaddress.IPv4Address(inside), False
    if ip in _IPV4_TRANSLATED:
        return "IPv4-translated", low32, False
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return "IPv4-compatible", low32, False
    return None


def address_problem(address: str) -> str | None:
    """Why a connection to ``address`` is refused, or None for a global unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and (found := _embedded(ip)) is not None:
        form, inside, judged = found
        if not judged:
            return (f"{address} is a {form} address (it carries {inside}); such tunnels "
                    "reach addresses no check sees")
        problem = address_problem(str(inside))
        return f"{address} is a {form} form of {problem}" if problem else None
    for name in ("loopback", "private", "link_local", "site_local", "multicast", "reserved",
                 "unspecified"):
        if getattr(ip, f"is_{name}", False):
            return f"{address} is a {name.replace('_', '-')} address"
    if not ip.is_global:  # shared address space (100.64/10), …
        return f"{address} is not a public address"
    return None


class _Late(TimeoutError):
    """The fetch's deadline passed."""


class _DeadlineSocket:
    """A connected socket whose every send and read waits at most until ``deadline``.

    http.client reads a response through ``makefile``; the reader made here sets
    the socket's timeout to the time left before each read, so neither a drip of
    header lines nor a drip of body bytes outlives the deadline.
    """

    def __init__(self, sock, deadline: float):
        self.sock, self.deadline = sock, deadline
        # Like socket.socket: closing waits for the readers made by makefile (http.client
        # closes the connection while a response that reads to EOF is still open).
        self.readers, self.closing = 0, False

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Late("the deadline passed")
        self.sock.settimeout(left)

    def sendall(self, data) -> None:
        self._arm()
        self.sock.sendall(data)

    def recv_into(self, buffer, nbytes: int = 0) -> int:
        self._arm()
        return self.sock.recv_into(buffer, nbytes)

    def makefile(self, mode="rb", buffering=None, **_kwargs):
        if mode != "rb":
            raise ValueError("only 'rb' is supported")
        self.readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def reader_closed(self) -> None:
        self.readers -= 1
        if self.closing and self.readers <= 0:
            self.sock.close()

    def close(self) -> None:
        self.closing = True
        if self.readers <= 0:
            self.sock.close()

    def __getattr__(self, name):
        return getattr(self.sock, name)


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket):
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._sock.reader_closed()
        super().close()


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to ``address`` that names ``host`` in its requests and does
    all its I/O before ``deadline``."""

    def __init__(self, host, port, address, deadline: float):
        super().__init__(host, port, timeout=max(deadline - time.monotonic(), 0.001))
        self.address, self.deadline = address, deadline

    def _raw(self) -> socket.socket:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Late("the deadline passed")
        sock = socket.create_connection((self.address, self.port), left)
        sock.settimeout(max(self.deadline - time.monotonic(), 0.001))
        return sock

    def connect(self):
        self.sock = _DeadlineSocket(self._raw(), self.deadline)


class _PinnedTLSConnection(_PinnedConnection):
    default_port = 443

    def connect(self):
        context = ssl.create_default_context()
        # The handshake is one call bounded by the socket's timeout (the time left).
        tls = context.wrap_socket(self._raw(), server_hostname=self.host)
        self.sock = _DeadlineSocket(tls, self.deadline)


# Name lookups run here so that a slow resolver cannot outlive the deadline.
_LOOKUPS = concurrent.futures.ThreadPoolExecutor(max_workers=4,
                                                 thread_name_prefix="fetch-lookup")


class Fetcher:
    """Fetches URLs by the rules above; ``resolver`` may be replaced (tests, a cache)."""

    def __init__(self, *, resolver: Resolver = system_resolver, allowed_hosts=None,
                 max_bytes: int | None = None, seconds: float | None = None):
        self.resolver = resolver
        hosts = settings.FETCH_ALLOWED_HOSTS if allowed_hosts is None else allowed_hosts
        self.allowed_hosts = {host.lower() for host in hosts}
        self.max_bytes = max_bytes or settings.FETCH_MAX_BYTES
        self.seconds = seconds or settings.FETCH_TIMEOUT_SECONDS

    def _late(self) -> FetchRefused:
        return FetchRefused(f"took longer than {self.seconds:g} s in all "
                            "(FETCH_TIMEOUT_SECONDS)")

    def _resolve(self, host: str, port: int, deadline: float | None) -> list[str]:
        if deadline is None:
            return list(self.resolver(host, port))
        lookup = _LOOKUPS.submit(self.resolver, host, port)
        try:
            return list(lookup.result(timeout=max(deadline - time.monotonic(), 0)))
        except concurrent.futures.TimeoutError as exc:
            raise self._late() from exc

    def check_url(self, url: str, deadline: float | None = None
                  ) -> tuple[str, str, int, list[str]]:
        """(scheme, host, port, addresses to connect to); FetchRefused when not allowed.

        ``deadline`` (time.monotonic()) bounds the name lookup.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchRefused(f"only http and https URLs are fetched, not {url[:80]!r}")
        if not parts.hostname:
            raise FetchRefused(f"{url[:80]!r} names no host")
        if parts.username or parts.password:
            raise FetchRefused("URLs with a user name or password are not fetched")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchRefused(f"{url[:80]!r} has a bad port") from exc
        host = parts.hostname.lower()
        addresses = self._resolve(host, port, deadline)
        if not addresses:
            raise FetchRefused(f"the host {host!r} has no address")
        if host not in self.allowed_hosts:
            for address in addresses:
                problem = address_problem(address)
                if problem:
                    raise FetchRefused(f"{host} resolves to {problem}; such addresses are "
                                       "never fetched (FETCH_ALLOWED_HOSTS lets an operator "
                                       "allow a named host)")
        return parts.scheme, host, port, addresses

    def fetch(self, url: str) -> bytes:
        """The body of ``url`` after at most MAX_REDIRECTS checked redirects.

        Raises FetchRefused naming the reason: scheme, address, HTTP status, size
        over ``max_bytes``, or longer than ``seconds`` in all (lookups, connections,
        headers and bodies of every hop).
        """
        deadline = time.monotonic() + self.seconds
        for _hop in range(MAX_REDIRECTS + 1):
            status, location, body = self._get(url, deadline)
            if status in REDIRECTS:
                if not location:
                    raise FetchRefused(f"HTTP {status} without a Location")
                url = urljoin(url, location)
                continue
            if status != 200:
                raise FetchRefused(f"HTTP {status} from {urlsplit(url).hostname}")
            return body
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")

    def _get(self, url: str, deadline: float) -> tuple[int, str, bytes]:
        scheme, host, port, addresses = self.check_url(url, deadline)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kind = _PinnedTLSConnection if scheme == "https" else _PinnedConnection
        error: Exception | None = None
        for address in addresses:
            if time.monotonic() >= deadline:
                break
            connection, response = kind(host, port, address, deadline), None
            try:
                connection.request("GET", target, headers={"User-Agent": "TrapTagger"})
                response = connection.getresponse()
                if response.status in REDIRECTS:
                    return response.status, response.getheader("Location", ""), b""
                if response.status != 200:
                    return response.status, "", b""
                return 200, "", self._read(response, deadline)
            except (OSError, http.client.HTTPException) as exc:
                if time.monotonic() >= deadline or isinstance(exc, _Late):
                    raise self._late() from exc
                error = exc
            finally:
                if response is not None:
                    response.close()
                connection.close()
        if error is None:
            raise self._late()
        raise FetchRefused(f"{host} cannot be reached ({error})") from error

    def _read(self, response, deadline: float) -> bytes:
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise FetchRefused(f"is {int(length)} bytes, over the {self.max_bytes}-byte limit "
                               "(FETCH_MAX_BYTES)")
        chunks, total = [], 0
        while chunk := response.read1(1 << 16):
            total += len(chunk)
            if total > self.max_bytes:
                raise FetchRefused(f"is over the {self.max_bytes}-byte limit (FETCH_MAX_BYTES)")
            if time.monotonic() > deadline:
                raise self._late()
            chunks.append(chunk)
        return b"".join(chunks)
