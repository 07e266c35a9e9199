from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import UserError
from core.progress import bar
from surveys.selectors import organisation_named
from training.selectors import training_tasks
from training.services.crops import CROP_SIZE
from training.services.training_data import (
    MIN_AREA,
    TrainingDataOptions,
    export_training_data,
    preview,
)


class Command(BaseCommand):
    help = ("Write training data from tasks' verified labels: square black-padded crops of "
            "relevant animal boxes in single-species clusters, classification_ds/"
            "classification_ds.csv, label_spec.json and label_index.json. Crops already "
            "made are reused.")

    def add_arguments(self, parser):
        parser.add_argument("--task", type=int, action="append", required=True,
                            dest="tasks", help="A task id (repeat for several surveys).")
        parser.add_argument("--out", required=True, help="The folder to write (created).")
        parser.add_argument("--org", help="Organisation name (or id): only its tasks.")
        parser.add_argument("--min-area", type=float, default=MIN_AREA,
                            help="Smallest box, as a fraction of the image (0.005).")
        parser.add_argument("--min-score", type=float, help="Smallest detector confidence.")
        parser.add_argument("--group-under", type=int, default=0, help="Labels with fewer "
                            "crops join their parent label (0: never).")
        parser.add_argument("--exclude-under", type=int, default=0, help="Labels with fewer "
                            "crops (after grouping) are left out (0: none).")
        parser.add_argument("--crop-size", type=int, default=CROP_SIZE,
                            help="Crop side in pixels.")
        parser.add_argument("--preview", action="store_true", dest="preview_only",
                            help="Only print the labels, their counts and what they "
                            "become; write nothing.")

    def handle(self, *args, tasks, out, org, preview_only, **options):
        chosen = TrainingDataOptions(
            min_area=options["min_area"], min_score=options["min_score"],
            group_under=options["group_under"], exclude_under=options["exclude_under"],
            crop_size=options["crop_size"])
        folder = Path(out)
        if not folder.parent.is_dir():
            raise CommandError(f"The folder {folder.parent} does not exist; create it first.")
        if folder.exists() and not folder.is_dir():
            raise CommandError(f"{folder} is a file; give a folder for --out.")
        try:
            found = training_tasks(tasks, organisation=organisation_named(org) if org else None)
            if preview_only:
                self._table(preview(found, chosen))
                return
            result = export_training_data(found, folder, chosen, progress=self._bar)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        self._table(result["translation"])
        self.stdout.write(
            f"Wrote {result['crops']} crop(s) ({result['made']} made, {result['reused']} "
            f"reused) of {result['classes']} class(es) to {folder}"
            + (f"; {result['unreadable_images']} image(s) could not be read"
               if result["unreadable_images"] else "") + ".")

    def _bar(self, done: int, total: int) -> None:
        self.stderr.write(f"\rCropping: {bar(done, total)}", ending="")
        if done >= total:
            self.stderr.write("")

    def _table(self, translation) -> None:
        for row in translation.rows:
            self.stdout.write(f"{row['dataset']} / {row['label']}: {row['crops']} crop(s) → "
                              f"{row['class'] or '(left out)'}"
                              + (f" ({row['reason']})" if row["reason"] else ""))
