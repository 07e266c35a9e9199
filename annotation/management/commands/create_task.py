from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.exceptions import AnnotationError
from annotation.models import Task
from annotation.services.label_sets import (
    labels_of_task,
    read_labels_csv,
    region_templates,
    template_labels,
)
from annotation.services.task_setup import do_create_task
from core.exceptions import UserError
from surveys.selectors import survey_named


class Command(BaseCommand):
    help = ("Create an annotation task for a survey, with its labels from a region template, "
            "a CSV file (name,hotkey,parent,description) or another task of the same "
            "organisation. Prints the new task's id.")

    def add_arguments(self, parser):
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--org", help="Organisation name or id (when several have a "
                            "survey of that name).")
        parser.add_argument("--name", required=True, help="The task's name.")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--template", help="A region template: "
                            + ", ".join(f"“{name}”" for name in region_templates()) + ".")
        source.add_argument("--labels-csv", help="A CSV file of labels.")
        source.add_argument("--copy-from", type=int, metavar="TASK_ID",
                            help="Copy the labels of this task (same organisation).")

    def handle(self, *args, survey, org, name, template, labels_csv, copy_from, **options):
        try:
            target = survey_named(survey, org)
            labels = []
            if template:
                labels = template_labels(template)
            elif labels_csv:
                path = Path(labels_csv)
                if not path.is_file():
                    raise CommandError(f"--labels-csv: there is no file {labels_csv!r}.")
                labels = read_labels_csv(path.name, path.read_bytes())
            elif copy_from is not None:
                source = Task.objects.of_organisations([target.organisation_id]).filter(
                    pk=copy_from).first()
                if source is None:
                    raise CommandError(f"--copy-from: organisation “{target.organisation}” "
                                       f"has no task {copy_from}.")
                labels = labels_of_task(source)
            task = do_create_task(target, name=name, labels=labels, acting_user=None)
        except (UserError, AnnotationError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(task.pk))
