"""Run the whole embedded instance: Celery worker and beat, then daphne.

Meant for ``make run`` and for a single-machine install; production runs the
three processes under systemd (deploy/).
"""

import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from traptagger.celery import QUEUES


class Command(BaseCommand):
    help = "Start a Celery worker and beat, optionally seed the demo, and serve with daphne."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--demo", action="store_true", help="Seed the demo first.")
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args, host, port, demo, concurrency, **options):
        python = sys.executable
        logs = settings.VAR_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = os.environ.copy()
        children = []

        def start(name, argv):
            log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
            children.append(proc)
            self.stdout.write(f"Started {name} (pid {proc.pid}); log: {logs / (name + '.log')}")
            return proc

        def stop(*_):
            for proc in children:
                if proc.poll() is None:
                    proc.terminate()
            for proc in children:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()

        signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
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
            server = start("daphne", [python, "-m", "daphne", "-b", host, "-p", str(port),
                                      "traptagger.asgi:application"])
            self.stdout.write(f"Serving on http://{host}:{port}/ — press Ctrl+C to stop.")
            server.wait()
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
