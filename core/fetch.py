"""Fetching a file from a URL someone else named, without reaching the server's own network.

A URL in a user's CSV could name ``http://169.254.169.254/`` (cloud metadata),
``http://localhost:6379/`` or a host whose DNS answer is a private address (SSRF).
``Fetcher.fetch`` therefore:

* takes only ``http`` and ``https``;
* resolves the host itself and refuses every address that is not global unicast
  (loopback, private, link-local, multicast, reserved, unspecified, shared address
  space; IPv4 and IPv6, IPv4-mapped IPv6 judged by the IPv4 address inside);
* connects to the very address it checked (a second DNS answer cannot differ:
  no DNS rebinding), sending the name in ``Host`` and, for https, in SNI and the
  certificate check;
* follows redirects itself, checking every hop the same way;
* caps the bytes read and the time taken.

Hosts named in ``settings.FETCH_ALLOWED_HOSTS`` (the operator's choice, e.g. a
dataset server on the local network; the tests' loopback server) skip the
address check.
"""

from __future__ import annotations

import http.client
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


def address_problem(address: str) -> str | None:
    """Why a connection to ``address`` is refused, or None for a global unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for name in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{name}"):
            return f"{address} is a {name.replace('_', '-')} address"
    if not ip.is_global:  # shared address space (100.64/10), 6to4 of private, …
        return f"{address} is not a public address"
    return None


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to ``address`` that names ``host`` in its requests."""

    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLSConnection(_PinnedConnection):
    default_port = 443

    def connect(self):
        super().connect()
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)


class Fetcher:
    """Fetches URLs by the rules above; ``resolver`` may be replaced (tests, a cache)."""

    def __init__(self, *, resolver: Resolver = system_resolver, allowed_hosts=None,
                 max_bytes: int | None = None, seconds: float | None = None):
        self.resolver = resolver
        hosts = settings.FETCH_ALLOWED_HOSTS if allowed_hosts is None else allowed_hosts
        self.allowed_hosts = {host.lower() for host in hosts}
        self.max_bytes = max_bytes or settings.FETCH_MAX_BYTES
        self.seconds = seconds or settings.FETCH_TIMEOUT_SECONDS

    def check_url(self, url: str) -> tuple[str, str, int, list[str]]:
        """(scheme, host, port, addresses to connect to); FetchRefused when not allowed."""
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
        addresses = list(self.resolver(host, port))
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
        over ``max_bytes``, or longer than ``seconds`` in all.
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
        scheme, host, port, addresses = self.check_url(url)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kind = _PinnedTLSConnection if scheme == "https" else _PinnedConnection
        error: Exception | None = None
        for address in addresses:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            connection = kind(host, port, address, timeout=min(left, 30))
            try:
                connection.request("GET", target, headers={"User-Agent": "TrapTagger"})
                response = connection.getresponse()
                if response.status in REDIRECTS:
                    return response.status, response.getheader("Location", ""), b""
                if response.status != 200:
                    return response.status, "", b""
                return 200, "", self._read(response, deadline)
            except (OSError, http.client.HTTPException) as exc:
                error = exc
            finally:
                connection.close()
        if error is None:
            raise FetchRefused(f"took longer than {self.seconds:.0f} s")
        raise FetchRefused(f"{host} cannot be reached ({error})") from error

    def _read(self, response, deadline: float) -> bytes:
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise FetchRefused(f"is {int(length)} bytes, over the {self.max_bytes}-byte limit")
        chunks, total = [], 0
        while chunk := response.read(1 << 16):
            total += len(chunk)
            if total > self.max_bytes:
                raise FetchRefused(f"is over the {self.max_bytes}-byte limit")
            if time.monotonic() > deadline:
                raise FetchRefused(f"took longer than {self.seconds:.0f} s")
            chunks.append(chunk)
        return b"".join(chunks)
