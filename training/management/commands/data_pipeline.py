from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import UserError
from core.progress import bar
from surveys.selectors import organisation_named
from training.services.data_pipeline import do_run_data_pipeline


class Command(BaseCommand):
    help = ("Bring in images labelled elsewhere: a CSV of filepath,species rows against a "
            "base URL or a source folder (inside the organisation's import area) or "
            "storage:PREFIX; each image becomes a labelled one-image cluster in the "
            "survey's finished task “Data pipeline”. Rows whose species is unknown, none, "
            "blank or human, files listed with several species and excluded folders are "
            "dropped; bad rows are reported with their line.")

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organisation name (or id).")
        parser.add_argument("--survey", required=True, help="Survey name (created if new).")
        parser.add_argument("--csv", required=True, help="The CSV file (filepath,species).")
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--base-url", help="The URL the file paths are relative to.")
        where.add_argument("--source", help="A folder in the organisation's import area "
                           "(<IMPORT_ROOT>/<organisation id>/…), or storage:PREFIX.")
        parser.add_argument("--exclude", action="append", default=[], metavar="WORD",
                            help="Skip rows whose folders hold WORD (any case); repeat.")
        parser.add_argument("--site-regex", help="Applied to each file's folder; the first "
                            "match names the site (default: one site, “Data pipeline”).")

    def handle(self, *args, org, survey, csv, base_url, source, exclude, site_regex,
               **options):
        path = Path(csv)
        try:
            outcome = do_run_data_pipeline(
                organisation_named(org), survey, path, base_url=base_url, source=source,
                excludes=exclude, site_regex=site_regex, progress=self._bar)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        for line, why in sorted(outcome.problems):
            self.stderr.write(f"{path.name} line {line}: {why}")
        self.stdout.write(
            f"Imported {outcome.imported} labelled image(s) into survey “{survey}”; "
            f"{len(outcome.dropped)} row(s) dropped, {len(outcome.problems)} bad row(s)"
            + (" (listed above)." if outcome.problems else "."))

    def _bar(self, done: int, total: int) -> None:
        self.stderr.write(f"\rImporting: {bar(done, total)}", ending="")
        if done >= total:
            self.stderr.write("")
