from django.core.management.base import BaseCommand, CommandError

from core.exceptions import UserError
from surveys.selectors import duplicate_images, rehash_progress, survey_named
from surveys.services import rehash


class Command(BaseCommand):
    help = ("Give a survey's images imported before the metadata-blind content hash their "
            "current hash (read from the stored originals), then list the images that turn "
            "out to be the same picture. Nothing is deleted. Resumable: a run cut off "
            "continues where it stopped when run again; a second run changes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--org", help="Organisation name (or id), when several have the "
                            "survey.")
        parser.add_argument("--queue", action="store_true",
                            help="Send the work to an 'import' worker instead of doing it here.")

    def handle(self, *args, survey, org, queue, **options):
        try:
            target = survey_named(survey, org)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        total, stale = rehash_progress(target)
        self.stdout.write(f"Survey “{target.name}”: {total - stale} of {total} image(s) have "
                          f"the current hash, {stale} to rehash.")
        if queue:
            rehash.do_start_rehash(target)
            self.stdout.write("Sent to the 'import' queue; run this command again (without "
                              "--queue) to see the progress and the duplicates.")
            return
        after, unreadable = 0, []
        while True:
            done = rehash.do_rehash_slice(target, after_pk=after, max_batches=1)
            unreadable += done.unreadable
            after = done.last_pk
            total, stale = rehash_progress(target)
            if done.rehashed or done.unreadable:
                self.stdout.write(f"  rehashed {total - stale} of {total}")
            if done.finished:
                break
        for key, reason in unreadable:
            self.stdout.write(f"  {key}: {reason}")
        self._report_duplicates(target)

    def _report_duplicates(self, target) -> None:
        groups = duplicate_images(target)
        if not groups:
            self.stdout.write("No duplicates: every image is a different picture.")
            return
        extra = sum(len(g) - 1 for g in groups)
        self.stdout.write(f"{len(groups)} picture(s) stored more than once ({extra} extra "
                          "image(s)); nothing was deleted. Same picture:")
        for group in groups:
            self.stdout.write("  " + "  =  ".join(group))
