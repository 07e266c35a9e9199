"""The network half of the annotation load test: real log-ins and real tagging websockets.

No Django here (it runs against any server, over HTTP and websockets only); the
accounts and the checks against the database are annotation.services.loadtest.

Each simulated annotator logs in through the site's log-in form (a session cookie,
as a browser gets), opens ``/ws/annotate/<task>/`` asking for the prefetch window,
and labels the cluster at the head of its window: as soon as the previous label was
answered (saturation), or every ``pace`` seconds (people). The latency of a label
is from the moment it was sent to the moment the next cluster (the window's top-up)
or the end of the task arrived.

On a loopback server each annotator talks from its own loopback address
(127.0.0.2, 127.0.0.3, ...), as people do from their own machines: the per-address
log-in rate limit (allauth, 30 a minute) and the failed-log-in lockout (django-axes)
count each one apart, and nothing here ever fails a log-in on purpose.
"""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import json
import random
import re
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

CONNECT_TIMEOUT = 30
ANSWER_TIMEOUT = 30
DRAIN_SECONDS = 10
LOGIN_CONCURRENCY = 8


class LoadTestError(RuntimeError):
    """The load test could not run (the server refused log-ins, say); the text says why."""


def source_address(url: str, index: int) -> str | None:
    """The loopback address annotator ``index`` talks from, or None (the system's choice)
    when the server is not on loopback."""
    host = urlsplit(url).hostname or ""
    try:
        if not ipaddress.ip_address(host).is_loopback or ":" in host:
            return None
    except ValueError:
        return None
    return f"127.0.{(index // 250) % 250}.{2 + index % 250}"


def log_in(url: str, username: str, password: str, source: str | None) -> str:
    """Log ``username`` in through the log-in form; returns the Cookie header for its session.

    Raises LoadTestError when the server does not log it in.
    """
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", "/accounts/login/")
        page = conn.getresponse()
        body = page.read().decode("utf-8", "replace")
        cookies = SimpleCookie()
        for header in page.headers.get_all("Set-Cookie") or []:
            cookies.load(header)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        if page.status != 200 or match is None or "csrftoken" not in cookies:
            raise LoadTestError(f"GET {url}/accounts/login/ answered {page.status} without a "
                                "log-in form; is the URL the TrapTagger server's?")
        form = urlencode({"login": username, "password": password,
                          "csrfmiddlewaretoken": match.group(1)})
        conn.request("POST", "/accounts/login/", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookies['csrftoken'].value}",
            "Referer": f"{url}/accounts/login/", "Origin": url})
        answer = conn.getresponse()
        answer.read()
        for header in answer.headers.get_all("Set-Cookie") or []:
            cookies.load(header)
        where = answer.headers.get("Location", "")
        if answer.status != 302 or "sessionid" not in cookies or "/accounts/" in where:
            raise LoadTestError(
                f"Logging {username} in at {url}/accounts/login/ answered {answer.status} "
                f"{where} (429: the server's log-in rate limit; 200: the password was refused; "
                "a redirect to /accounts/…: the account cannot log in yet).")
        return f"sessionid={cookies['sessionid'].value}"
    finally:
        conn.close()


async def log_in_all(url: str, usernames: list[str], password: str) -> dict[str, str]:
    """Cookie headers of every account, logged in a few at a time."""
    gate = asyncio.Semaphore(LOGIN_CONCURRENCY)

    async def one(index: int, name: str) -> tuple[str, str]:
        async with gate:
            return name, await asyncio.to_thread(
                log_in, url, name, password, source_address(url, index))

    return dict(await asyncio.gather(*(one(i, n) for i, n in enumerate(usernames))))


@dataclass
class Tally:
    """What every simulated annotator saw, shared (one event loop, no locks needed)."""

    latencies: list[float] = field(default_factory=list)
    saved: dict[int, tuple[int, list[int]]] = field(default_factory=dict)  # id → (who, labels)
    saved_twice: set[int] = field(default_factory=set)
    holder: dict[int, int] = field(default_factory=dict)  # annotation id → who holds it now
    double_offers: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    handshake_failures: list[str] = field(default_factory=list)
    handshake_seconds: list[float] = field(default_factory=list)
    finished: bool = False


class Annotator:
    """One simulated person on one websocket."""

    def __init__(self, index: int, url: str, task_id: int, cookie: str, label_ids: list[int],
                 tally: Tally):
        self.index, self.cookie, self.tally = index, cookie, tally
        self.ws_url = url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") \
            + f"/ws/annotate/{task_id}/"
        self.origin = url.rstrip("/")
        self.source = source_address(url, index)
        self.label_ids = label_ids
        self.window: list[dict] = []
        self.rng = random.Random(index)
        self.ws = None
        self.inbox: asyncio.Queue = asyncio.Queue()

    async def connect(self) -> bool:
        import websockets

        started = time.perf_counter()
        extra = {"local_addr": (self.source, 0)} if self.source else {}
        try:
            self.ws = await websockets.connect(
                self.ws_url, additional_headers=[("Cookie", self.cookie)], origin=self.origin,
                open_timeout=CONNECT_TIMEOUT, max_size=2**22, **extra)
            await self.ws.send(json.dumps({"type": "cluster.request", "prefetch": True}))
            first = json.loads(await asyncio.wait_for(self.ws.recv(), CONNECT_TIMEOUT))
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            self.tally.handshake_failures.append(f"annotator {self.index}: {exc!r}"[:300])
            return False
        self.tally.handshake_seconds.append(time.perf_counter() - started)
        self._take(first)
        return True

    def _take(self, msg: dict) -> None:
        kind = msg.get("type")
        if kind == "cluster.offered":
            pk = msg["annotation_id"]
            if self.tally.holder.get(pk, self.index) != self.index:
                self.tally.double_offers.add(pk)
            self.tally.holder[pk] = self.index
            self.window.append(msg)
        elif kind == "cluster.withdrawn":
            self._drop(msg["annotation_id"])
        elif kind == "task.finished":
            self.tally.finished = True
        elif kind in ("label.refused", "error"):
            self.tally.errors.append(f"annotator {self.index}: {json.dumps(msg)[:300]}")

    def _drop(self, pk: int) -> None:
        self.window = [o for o in self.window if o["annotation_id"] != pk]
        if self.tally.holder.get(pk) == self.index:
            del self.tally.holder[pk]

    async def _reader(self) -> None:
        import websockets

        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                self._take(msg)
                await self.inbox.put(msg)
        except websockets.ConnectionClosed as exc:
            if exc.rcvd is None or exc.rcvd.code not in (1000, 1001):
                self.tally.errors.append(f"annotator {self.index}: socket closed {exc!r}"[:300])
        await self.inbox.put({"type": "closed"})

    async def _label_one(self) -> bool:
        """Label the head of the window; wait for its answer and the top-up. False: stop."""
        if not self.window:
            return False
        offer = self.window.pop(0)
        labels = [self.rng.choice(self.label_ids)]
        sent = time.perf_counter()
        await self.ws.send(json.dumps({
            "type": "label.submit", "annotation_id": offer["annotation_id"],
            "lease": offer["lease"], "labels": labels, "seconds": 1.0}))
        answered = topped = False
        while not (answered and topped):
            msg = await asyncio.wait_for(self.inbox.get(), ANSWER_TIMEOUT)
            kind = msg["type"]
            if kind == "closed":
                return False
            if kind in ("label.saved", "label.refused") and (
                    msg.get("annotation_id") == offer["annotation_id"]):
                answered = True
                self._drop(offer["annotation_id"])
                if kind == "label.saved":
                    pk = offer["annotation_id"]
                    if pk in self.tally.saved and self.tally.saved[pk][0] != self.index:
                        self.tally.saved_twice.add(pk)
                    self.tally.saved[pk] = (self.index, labels)
            elif kind in ("cluster.offered", "task.progress", "task.finished"):
                topped = True
            elif kind == "error":
                return False
        self.tally.latencies.append(time.perf_counter() - sent)
        return True

    async def label_until(self, deadline: float, pace: float | None) -> None:
        reader = asyncio.create_task(self._reader())
        try:
            if pace:
                await asyncio.sleep(self.rng.uniform(0, pace))  # people do not start in step
            while time.perf_counter() < deadline:
                due = time.perf_counter() + (pace or 0)
                if not await self._label_one():
                    break
                if pace:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
        except TimeoutError:
            self.tally.errors.append(f"annotator {self.index}: no answer in {ANSWER_TIMEOUT} s")
        finally:
            # What the window holds goes back to the pool as the socket closes: others
            # may be offered it from now on.
            for offer in list(self.window):
                self._drop(offer["annotation_id"])
            await self.ws.close()
            try:
                await asyncio.wait_for(reader, DRAIN_SECONDS)
            except TimeoutError:
                reader.cancel()


@dataclass
class Run:
    tally: Tally
    seconds: float
    annotators: int
    connected: int


async def run_annotators(url: str, task_id: int, cookies: list[str], label_ids: list[int],
                         seconds: float, pace: float | None) -> Run:
    """Connect every annotator at once, label for ``seconds``, close; what they saw."""
    tally = Tally()
    people = [Annotator(i, url, task_id, c, label_ids, tally) for i, c in enumerate(cookies)]
    ok = await asyncio.gather(*(p.connect() for p in people))
    live = [p for p, up in zip(people, ok, strict=True) if up]
    started = time.perf_counter()
    await asyncio.gather(*(p.label_until(started + seconds, pace) for p in live))
    return Run(tally=tally, seconds=time.perf_counter() - started, annotators=len(people),
               connected=len(live))
