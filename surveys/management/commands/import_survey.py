import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organisation
from surveys.exceptions import SurveyError
from surveys.models import ImportRun, Survey, validate_timezone
from surveys.services import importing
from surveys.taxonomy import ImportStatus, SurveyStatus


class Command(BaseCommand):
    help = (
        "Import a folder of camera-trap JPEGs into a survey (created if new). The import "
        "runs on the 'import' queue; --wait follows it, --now runs it in this process."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organisation name (or id).")
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--source", required=True, help="Folder holding the survey's images.")
        parser.add_argument("--site-regex", help=r"Regex naming the site in each folder path "
                            r"(default: the top folder, ^[^/]+).")
        parser.add_argument("--timezone", help="Time zone of the camera clocks (default UTC).")
        parser.add_argument("--wait", action="store_true",
                            help="Wait for the whole pipeline and print progress.")
        parser.add_argument("--now", action="store_true",
                            help="Run the import here instead of on a worker (no worker needed).")

    def handle(self, *args, org, survey, source, site_regex, timezone, wait, now, **options):
        try:
            importing.check_source_dir(source)
            if site_regex:
                importing.check_site_regex(site_regex)
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
        target, created = Survey.objects.get_or_create(organisation=organisation, name=survey)
        changed = []
        if site_regex and target.site_regex != site_regex:
            target.site_regex = site_regex
            changed.append("site_regex")
        if timezone and target.timezone != timezone:
            target.timezone = timezone
            changed.append("timezone")
        if changed:
            target.save(update_fields=changed)
        run = importing.do_start_import(target, source)
        self.stdout.write(
            f"{'Created' if created else 'Using'} survey “{target.name}” (id {target.pk}); "
            f"import #{run.pk} queued on the 'import' queue."
        )
        if now:
            importing.run_import(run)
            run.refresh_from_db()
            self._report(run)
        elif wait:
            self._follow(run)

    def _follow(self, run: ImportRun) -> None:
        last = None
        while True:
            run.refresh_from_db()
            survey = run.survey
            survey.refresh_from_db()
            line = f"{survey.get_status_display()}: read {run.processed}/{run.total} files"
            if line != last:
                self.stdout.write(line)
                last = line
            if run.status == ImportStatus.FAILED or survey.status in (
                SurveyStatus.READY, SurveyStatus.FAILED
            ):
                break
            time.sleep(1)
        self._report(run)

    def _report(self, run: ImportRun) -> None:
        self.stdout.write(run.message or run.get_status_display())
        for issue in run.issues.all()[:50]:
            self.stdout.write(f"  {issue.path}: {issue.reason}")
        if run.status == ImportStatus.FAILED:
            raise CommandError(run.message)
