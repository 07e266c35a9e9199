"""Run the whole embedded instance: Celery worker and beat, then daphne.

Meant for ``make run`` and for a single-machine install; production runs the
three processes under systemd (deploy/).
"""

import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.webserver import daphne_argv, listening_socket
from core.webserver import web_workers as count_web_workers
from traptagger.celery import QUEUES


class Command(BaseCommand):
    help = "Start a Celery worker and beat, optionally seed the demo, and serve with daphne."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--demo", action="store_true", help="Seed the demo first.")
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument("--web-workers", type=int, help="daphne processes behind the "
                            "port (default: WEB_WORKERS with REDIS_URL set, else 1; more than "
                            "one needs REDIS_URL).")

    def handle(self, *args, host, port, demo, concurrency, web_workers, **options):
        check_port_free(host, port)
        if web_workers is None and not settings.CHANNEL_LAYER_SHARED:
            web_workers = 1  # the embedded mode: one process, nothing to say
        workers, note = count_web_workers(web_workers)
        if note:
            self.stderr.write(note)
        python = sys.executable
        logs = settings.VAR_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = os.environ.copy()
        children = []

        def start(name, argv, pass_fds=()):
            log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    pass_fds=pass_fds)
            children.append(proc)
            self.stdout.write(f"Started {name} (pid {proc.pid}); log: {logs / (name + '.log')}")
            return proc

        def stop(*_):
            stop_all(children)

        def on_sigterm(*_):
            # Stop from the main flow (its ``finally``), not in the handler: the handler
            # may interrupt ``server.wait()``, which holds that process's wait lock.
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_sigterm)
        try:
            start("worker", [python, "-m", "celery", "-A", "traptagger", "worker",
                             "-Q", ",".join(QUEUES), "--concurrency", str(concurrency),
                             "--loglevel", "INFO", "--hostname", f"local-{port}@%h"])
            start("beat", [python, "-m", "celery", "-A", "traptagger", "beat",
                           "--loglevel", "INFO",
                           "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")])
            if demo:
                from demo.services import ensure_demo

                self.stdout.write("Preparing the demo (the first run trains a small model and "
                                  "imports a generated survey; about a minute)…")
                try:
                    result = ensure_demo(say=self.stdout.write)
                except TimeoutError as exc:
                    raise CommandError(str(exc)) from exc
                self._banner(host, port, result)
            # Every web worker accepts on one socket (core.webserver).
            sock = listening_socket(host, port)
            servers = [start("daphne" if n == 0 else f"daphne-{n + 1}", daphne_argv(sock),
                             pass_fds=[sock.fileno()]) for n in range(workers)]
            sock.close()  # the workers hold it now
            wait_until_serving(servers[0], host, port, logs / "daphne.log")
            self.stdout.write(f"Serving on http://{host}:{port}/ with {workers} web "
                              "worker(s) — press Ctrl+C to stop.")
            servers[0].wait()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            stop()

    def _banner(self, host, port, demo):
        base = f"http://{host}:{port}"
        creds = demo.credentials
        lines = [
            "",
            "=" * 72,
            "TrapTagger is ready.",
            f"  Admin:      {base}/admin/",
            f"              user demo-admin       password {creds.get('demo-admin', '?')}",
            f"  Annotator:  {base}/accounts/login/",
            f"              user demo-annotator   password {creds.get('demo-annotator', '?')}",
        ]
        if demo.task is not None:
            lines += [
                f"  Tagging:    {base}/annotate/{demo.task.pk}/  (keys: z zebra, e elephant, "
                "l lion, n nothing, u unknown)",
                f"  Results:    .venv/bin/python manage.py export_results --task {demo.task.pk} "
                "--out results.csv",
            ]
        lines += [f"  (passwords are kept in {settings.VAR_DIR / 'demo-credentials.json'})",
                  "=" * 72, ""]
        self.stdout.write("\n".join(lines))


STARTUP_SECONDS = 120
STOP_SECONDS = 3


def check_port_free(host: str, port: int) -> None:
    """CommandError naming the port when nothing could serve on it (before anything starts)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As the server will: a port left in TIME_WAIT by a stopped server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"Cannot serve on {host}:{port}: {exc.strerror or exc}. Another program "
                f"(perhaps another `make run`) holds it: stop it, or choose another port, "
                f"e.g. make run PORT={port + 1}.") from None


def wait_until_serving(server: subprocess.Popen, host: str, port: int, log,
                       seconds: float = STARTUP_SECONDS) -> None:
    """Return once ``host:port`` accepts connections; CommandError with the server's reason
    (the last line of its log) when it stops first or does not answer in ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CommandError(f"The web server stopped at start (exit {server.returncode}): "
                               f"{last_error(log)} (full log: {log})")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise CommandError(f"The web server did not answer on {host}:{port} within {seconds:.0f} s "
                       f"(log: {log}).")


def last_error(log) -> str:
    """The line of ``log`` that says why a process stopped (its last error line)."""
    try:
        lines = [line.strip() for line in open(log, encoding="utf-8", errors="replace")]
    except OSError:
        return "no log"
    errors = [line for line in lines if "error" in line.lower() or "exception" in line.lower()]
    return (errors or lines or ["no reason given"])[-1][:300]


def stop_all(children: list[subprocess.Popen], seconds: float = STOP_SECONDS) -> None:
    """Ask every child to stop at once; kill those still running after ``seconds``.

    An idle Celery worker's warm shutdown alone takes about 10 s (its pool's
    threads poll), and a busy one waits for its task: people stopping ``make run``
    want it stopped. Work cut off this way is taken up again (tasks are acknowledged
    late and the pipeline resumes a killed worker's stage).
    """
    for proc in children:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + seconds
    for proc in children:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=seconds)
