from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotation.exceptions import AnnotationError
from annotation.models import Task
from annotation.services.task_setup import do_launch_task, do_set_launch_options
from annotation.taxonomy import TaggingLevel


class Command(BaseCommand):
    help = ("Open a task to annotators at a tagging level (clusters are offered on the tagging "
            "page). Prints how many clusters were added or queued.")

    def add_arguments(self, parser):
        parser.add_argument("--task", type=int, required=True, help="The task's id.")
        parser.add_argument("--level", choices=TaggingLevel.values,
                            help="Tagging level (default: the task's own).")
        parser.add_argument("--batch-size", type=int, help="Clusters per batch, 1-10000 "
                            "(default: the task's own, 200 for a new task).")

    def handle(self, *args, task, level, batch_size, **options):
        found = Task.objects.select_related("survey", "survey__organisation").filter(
            pk=task).first()
        if found is None:
            raise CommandError(f"There is no task {task}; see Tasks in the admin.")
        try:
            with transaction.atomic():  # a refused launch leaves the options as they were
                do_set_launch_options(found, acting_user=None, tagging_level=level,
                                      batch_size=batch_size)
                added = do_launch_task(found, acting_user=None)
        except AnnotationError as exc:
            raise CommandError(str(exc)) from exc
        what = ("cluster(s) queued for the AI check" if found.tagging_level ==
                TaggingLevel.AI_CHECK else "cluster(s) added")
        self.stdout.write(f"Task {found.pk} launched at the {found.tagging_level} level: "
                          f"{added} {what}.")
