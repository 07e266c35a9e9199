import json as jsonlib

from django.core.management.base import BaseCommand, CommandError

from accounts.exceptions import AccountsError
from annotation.models import Task
from annotation.services.loadtest import run_load_test
from annotation.services.loadtest_client import LoadTestError


class Command(BaseCommand):
    help = ("Label a launched task through a running server with N annotators at once "
            "(real log-ins, real websockets) and report labels/s, latency, errors, double "
            "leases and lost labels. It labels the task's clusters for real: use a test task.")

    def add_arguments(self, parser):
        parser.add_argument("--task", type=int, required=True, help="A launched task's id.")
        parser.add_argument("--annotators", type=int, required=True,
                            help="Accounts loadtest-<org>-NNN, created or reused.")
        parser.add_argument("--seconds", type=float, required=True, help="How long to label.")
        parser.add_argument("--url", required=True, help="The server, http://127.0.0.1:8000.")
        parser.add_argument("--pace", type=float, help="One label every PACE seconds per "
                            "annotator (default: each labels as fast as the server answers).")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, task, annotators, seconds, url, pace, json: bool, **options):
        found = Task.objects.select_related("survey__organisation").filter(pk=task).first()
        if found is None:
            raise CommandError(f"There is no task {task}; see Tasks in the admin.")
        if not 1 <= annotators <= 1000 or seconds <= 0 or (pace is not None and pace <= 0):
            raise CommandError("--annotators is 1-1000; --seconds and --pace are above 0.")
        try:
            report = run_load_test(found, annotators=annotators, seconds=seconds,
                                   url=url.rstrip("/"), pace=pace)
        except (LoadTestError, AccountsError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(jsonlib.dumps(report.as_dict()) if json else "\n".join(report.lines()))
        if report.double_leases or report.lost_labels:
            raise CommandError(f"{report.double_leases} double lease(s), {report.lost_labels} "
                               "lost label(s): see above.")


