"""What run_detection and run_classifier share: start a stage, follow it to the end."""

import json
import logging
import threading
import time
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from core.exceptions import UserError
from core.progress import bar
from surveys.models import Survey
from surveys.taxonomy import SurveyStatus

DONE = (SurveyStatus.READY, SurveyStatus.FAILED)


class StageCommand(BaseCommand):
    """Starts a stage with ``start(inline)`` and prints a bar of ``measure()`` until the end."""

    def add_common_arguments(self, parser):
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--org", help="Organisation name (or id), when several have the "
                            "survey.")
        parser.add_argument("--now", action="store_true", help="Run the stage and those "
                            "after it in this process: no worker needed.")
        parser.add_argument("--json", action="store_true", help="Print the counts as JSON.")

    def run_and_follow(self, survey: Survey, start: Callable[[bool], None],
                       measure: Callable[[], tuple[str, int, int]], counts: Callable[[], dict],
                       *, now: bool, as_json: bool) -> None:
        failure: list[BaseException] = []
        worker = None
        if now:
            def work():
                try:
                    start(True)
                except BaseException as exc:  # reported below
                    failure.append(exc)
                finally:
                    connection.close()

            worker = threading.Thread(target=work, name="stage-here")
            quiet = logging.getLogger("traptagger.task")
            level = quiet.level
            quiet.setLevel(logging.WARNING)  # the bar says it instead
            worker.start()
        else:
            try:
                start(False)
            except UserError as exc:
                raise CommandError(str(exc)) from exc
        try:
            self._follow(survey, measure, worker, quiet=as_json)
        finally:
            if worker is not None:
                worker.join()
                quiet.setLevel(level)
        if failure:
            exc = failure[0]
            raise CommandError(str(exc) if isinstance(exc, UserError)
                               else f"The stage stopped: {exc!r}") from exc
        survey.refresh_from_db()
        result = {"survey": survey.name, "status": survey.status, **counts()}
        if as_json:
            self.stdout.write(json.dumps(result, ensure_ascii=False))
        else:
            self.stdout.write(" ".join(f"{k}={v}" for k, v in result.items()))
        if survey.status == SurveyStatus.FAILED:
            raise CommandError(survey.status_detail or "The survey's processing failed.")

    def _follow(self, survey, measure, worker, *, quiet: bool) -> None:
        last = None
        out = self.stderr if quiet else self.stdout
        while True:
            survey.refresh_from_db(fields=["status", "status_detail"])
            what, done, total = measure()
            line = f"{survey.get_status_display()}: {bar(done, total)} {what}"
            if line != last:
                out.write(line)
                last = line
            if worker is not None:
                if not worker.is_alive():
                    return
            elif survey.status in DONE:
                return
            time.sleep(0.5 if worker is not None else 1)
