"""Several daphne processes behind one address: one listening socket, N workers.

One daphne process runs Python on one core. ``serve_web`` (and ``serve_local``)
bind the address once and start ``WEB_WORKERS`` daphne processes that all accept
on that socket (daphne ``--fd``; the kernel hands each new connection to a worker
waiting in accept, so a busy worker takes fewer). A worker that dies is started
again on the same socket; nothing else notices.

Websocket events between workers (a revocation pushed to another worker's
socket, survey progress) travel through the channel layer, so more than one
worker needs the shared Redis layer (REDIS_URL). Without it ``web_workers`` serves
with one and says why.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from django.conf import settings

APPLICATION = "traptagger.asgi:application"
RESTART_PAUSE = 1.0


def web_workers(requested: int | None) -> tuple[int, str | None]:
    """How many daphne workers to start for ``requested`` (None: WEB_WORKERS), and a line
    to print when that is not what was asked."""
    count = settings.WEB_WORKERS if requested is None else requested
    if count < 1:
        return 1, f"{count} web workers asked for; serving with 1."
    if count > 1 and not settings.CHANNEL_LAYER_SHARED:
        return 1, (
            f"{count} web workers asked for, but REDIS_URL is not set: the in-memory channel "
            "layer cannot carry websocket events between processes, so 1 web worker serves "
            "(one core). Set REDIS_URL to serve with several.")
    return count, None


def listening_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, that child processes inherit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def daphne_argv(sock: socket.socket, extra: list[str] | None = None) -> list[str]:
    """The command line of one worker accepting on ``sock``."""
    fd = sock.fileno()
    where = (["-e", f"fd:fileno={fd}:domain=AF_INET6"] if sock.family == socket.AF_INET6
             else ["--fd", str(fd)])
    return [sys.executable, "-m", "daphne", *where, *(extra or []), APPLICATION]


class WebWorkers:
    """``count`` daphne processes on one socket; ``supervise`` restarts any that dies."""

    def __init__(self, sock: socket.socket, count: int, *, extra: list[str] | None = None,
                 log=None, env: dict | None = None, say=print):
        self.sock, self.count, self.extra = sock, count, extra or []
        self.log, self.env, self.say = log, env, say
        self.procs: list[subprocess.Popen] = []
        self.stopping = False

    def _start_one(self) -> subprocess.Popen:
        proc = subprocess.Popen(daphne_argv(self.sock, self.extra), pass_fds=[self.sock.fileno()],
                                stdout=self.log, stderr=subprocess.STDOUT if self.log else None,
                                env=self.env)
        return proc

    def start(self) -> list[subprocess.Popen]:
        self.procs = [self._start_one() for _ in range(self.count)]
        return self.procs

    def supervise(self, poll_seconds: float = 0.5) -> None:
        """Keep ``count`` workers running until ``stop`` (or KeyboardInterrupt)."""
        while not self.stopping:
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self.stopping:
                    self.say(f"web worker {proc.pid} stopped (exit {proc.returncode}); "
                             "starting another.")
                    time.sleep(RESTART_PAUSE)
                    self.procs[i] = self._start_one()
            time.sleep(poll_seconds)

    def stop(self, seconds: float = 10) -> None:
        """SIGTERM every worker, SIGKILL those still running after ``seconds``."""
        self.stopping = True
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + seconds
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def default_workers() -> int:
    return os.cpu_count() or 1
