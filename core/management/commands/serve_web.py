"""Serve HTTP and websockets with several daphne processes behind one address."""

import signal

from django.core.management.base import BaseCommand, CommandError

from core.webserver import WebWorkers, listening_socket, web_workers


class Command(BaseCommand):
    help = ("Serve the site with WEB_WORKERS daphne processes (default: one per core) sharing "
            "one listening socket. More than one needs REDIS_URL (the shared channel layer).")

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, help="daphne processes (default: the "
                            "WEB_WORKERS setting, one per core).")
        parser.add_argument("--proxy-headers", action="store_true",
                            help="Behind nginx: take the client's address from X-Forwarded-For.")

    def handle(self, *args, host, port, workers, proxy_headers, **options):
        count, note = web_workers(workers)
        if note:
            self.stderr.write(note)
        try:
            sock = listening_socket(host, port)
        except OSError as exc:
            raise CommandError(f"Cannot serve on {host}:{port}: {exc.strerror or exc}.") from None
        server = WebWorkers(sock, count, extra=["--proxy-headers"] if proxy_headers else [],
                            say=self.stdout.write)

        def on_sigterm(*_):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_sigterm)
        server.start()
        self.stdout.write(f"Serving on http://{host}:{port}/ with {count} web worker(s) "
                          f"(pids {', '.join(str(p.pid) for p in server.procs)}).")
        try:
            server.supervise()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
            sock.close()
