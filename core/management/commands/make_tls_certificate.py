"""Make a self-signed certificate for nginx on a first start, unless one is there."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.tls import ensure_self_signed


class Command(BaseCommand):
    help = ("Write a self-signed TLS certificate and key for nginx, unless both files exist "
            "(a real certificate at those paths is kept). Browsers warn about it; replace it "
            "with a real one (deploy/README.md, Let's Encrypt).")

    def add_arguments(self, parser):
        parser.add_argument("--certificate", required=True, type=Path,
                            help="where the certificate (PEM) goes, e.g. /tls/fullchain.pem")
        parser.add_argument("--key", required=True, type=Path,
                            help="where its private key (PEM) goes, e.g. /tls/privkey.pem")
        parser.add_argument("--host", action="append", default=[],
                            help="a host name or address it is for (repeat for several)")
        parser.add_argument("--days", type=int, default=825)

    def handle(self, *args, **options):
        try:
            files = ensure_self_signed(options["certificate"], options["key"],
                                       options["host"] or ["localhost"], days=options["days"])
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        if files.made:
            hosts = ", ".join(options["host"] or ["localhost"])
            self.stdout.write(f"Made a self-signed certificate for {hosts}: "
                              f"{files.certificate} (key {files.key}).")
        else:
            self.stdout.write(f"Kept the certificate already at {files.certificate}.")
