import logging
import threading
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Max

from accounts.models import Organisation
from core.exceptions import UserError
from surveys.exceptions import SurveyError
from surveys.models import ImportRun, Survey, validate_timezone
from surveys.services import importing
from surveys.services.surveys import do_get_or_create_survey
from surveys.taxonomy import ImportStatus, NamesFrom, SurveyStatus


class Command(BaseCommand):
    help = (
        "Import a folder of camera-trap JPEGs into a survey (created if new). The import "
        "and the stages after it (cluster, detect, classify) run on workers; --wait "
        "follows them, --now runs them all in this process."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organisation name (or id).")
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--source", required=True, help="Folder holding the survey's images.")
        parser.add_argument("--site-regex", help=r"Regex naming the site in each folder path "
                            r"(default: the top folder, ^[^/]+).")
        parser.add_argument("--camera-regex", help="Regex naming the physical camera in the "
                            "same text (several folders of one camera become one); empty: "
                            "each folder is a camera.")
        parser.add_argument("--names-from", choices=NamesFrom.values,
                            help="What the site and camera regexes are applied to: each file's "
                            "folder path (default), its file name, or its whole path.")
        parser.add_argument("--timezone", help="Time zone of the camera clocks (default UTC).")
        parser.add_argument("--wait", action="store_true",
                            help="Wait for the whole pipeline and print progress.")
        parser.add_argument("--now", action="store_true",
                            help="Run the import and every later stage (cluster, detect, "
                            "classify) in this process: no worker needed.")

    def handle(self, *args, org, survey, source, site_regex, camera_regex, names_from,
               timezone, wait, now, **options):
        try:
            importing.check_source_dir(source)
            if site_regex:
                importing.check_site_regex(site_regex)
            if camera_regex:
                importing.check_camera_regex(camera_regex)
            if timezone:
                validate_timezone(timezone)
        except (SurveyError, ValidationError) as exc:
            raise CommandError(" ".join(getattr(exc, "messages", [str(exc)]))) from exc
        organisation = (
            Organisation.objects.filter(name__iexact=org).first()
            or (Organisation.objects.filter(pk=int(org)).first() if org.isdigit() else None)
        )
        if organisation is None:
            raise CommandError(f"There is no organisation called {org!r}.")
        try:
            target, created = do_get_or_create_survey(
                organisation, survey, site_regex=site_regex, camera_regex=camera_regex,
                names_from=names_from, timezone=timezone)
            if now:
                self._run_here(target, source)
                return
            run = importing.do_start_import(target, source)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{'Created' if created else 'Using'} survey “{target.name}” (id {target.pk}); "
            f"import #{run.pk} queued on the 'import' queue."
        )
        if wait:
            self._follow(run)

    def _run_here(self, target: Survey, source: str) -> None:
        """Run the import and every later stage in a thread of this process; show progress."""
        importing.check_source_dir(source)
        self.stdout.write(f"Importing into survey “{target.name}” (id {target.pk}) and running "
                          "every stage here…")
        before = ImportRun.objects.filter(survey=target).aggregate(m=Max("pk"))["m"] or 0
        failure: list[BaseException] = []

        def work():
            try:
                importing.do_start_import(target, source, inline=True)
            except BaseException as exc:  # reported below, with the run's own message
                failure.append(exc)
            finally:
                connection.close()

        worker = threading.Thread(target=work, name="import-here")
        quiet = logging.getLogger("traptagger.task")
        level = quiet.level
        quiet.setLevel(logging.WARNING)  # the progress lines say it instead
        worker.start()
        try:
            run = None
            while run is None and worker.is_alive():
                run = ImportRun.objects.filter(survey=target, pk__gt=before).first()
                time.sleep(0.2)
            run = run or ImportRun.objects.filter(survey=target, pk__gt=before).first()
            if run is not None:
                self._follow(run, worker=worker)
        finally:
            worker.join()
            quiet.setLevel(level)
        if failure and not isinstance(failure[0], UserError):
            if run is not None:
                self._report(run)
            raise CommandError(f"The pipeline stopped: {failure[0]!r}") from failure[0]
        if failure:
            raise CommandError(str(failure[0])) from failure[0]
        self._report(run)

    def _follow(self, run: ImportRun, worker: threading.Thread | None = None) -> None:
        last = None
        while True:
            run.refresh_from_db()
            survey = run.survey
            survey.refresh_from_db()
            line = f"{survey.get_status_display()}: read {run.processed}/{run.total} files"
            if line != last:
                self.stdout.write(line)
                last = line
            if worker is not None:
                if not worker.is_alive():
                    break
            elif run.status == ImportStatus.FAILED or survey.status in (
                SurveyStatus.READY, SurveyStatus.FAILED
            ):
                break
            time.sleep(0.5 if worker is not None else 1)
        if worker is None:
            self._report(run)

    def _report(self, run: ImportRun) -> None:
        run.refresh_from_db()
        survey = run.survey
        self.stdout.write(run.message or run.get_status_display())
        for issue in run.issues.all()[:50]:
            self.stdout.write(f"  {issue.path}: {issue.reason}"
                              + (f" ({issue.hint})" if issue.hint else ""))
        self.stdout.write(f"Survey “{survey.name}”: {survey.get_status_display()}"
                          + (f" ({survey.status_detail})" if survey.status_detail else ""))
        if run.status == ImportStatus.FAILED:
            raise CommandError(run.message)
        if survey.status == SurveyStatus.FAILED:
            raise CommandError(survey.status_detail or "The survey's processing failed.")
