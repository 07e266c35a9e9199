from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import UserError
from results.services.camtrapdp import export_camtrapdp
from results.services.camtrapdp_check import check_camtrapdp
from surveys.selectors import survey_named


class Command(BaseCommand):
    help = ("Write a survey as a Camtrap DP 1.0 package (datapackage.json, deployments.csv, "
            "media.csv, observations.csv) and check it against the Camtrap DP 1.0.2 schemas.")

    def add_arguments(self, parser):
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--org", help="Organisation name, when several have the survey.")
        parser.add_argument("--task", type=int, help="The task whose labels are the human "
                            "observations (default: the survey's latest, if any).")
        parser.add_argument("--out", required=True, help="The folder to write (created; an "
                            "existing package there is replaced).")
        parser.add_argument("--copy-media", action="store_true",
                            help="Also copy the image files into the package (media/...).")

    def handle(self, *args, survey, org, task, out, copy_media, **options):
        folder = Path(out)
        if folder.exists() and not folder.is_dir():
            raise CommandError(f"{folder} is a file; give a folder for the package.")
        if folder.is_dir() and any(folder.iterdir()) and not (folder / "datapackage.json").exists():
            raise CommandError(f"{folder} holds other files; give an empty or new folder.")

        def progress(done, total):
            if total:
                self.stderr.write(f"\rmedia {done}/{total}", ending="")

        try:
            found = survey_named(survey, org)
            result = export_camtrapdp(found, folder, task_id=task, copy_media=copy_media,
                                      progress=progress)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write("")
        problems = check_camtrapdp(folder)
        summary = (f"Wrote {result['deployments']} deployment(s), {result['media']} media and "
                   f"{result['observations']} observation(s) to {folder}"
                   + (f" (human observations from task “{result['task'].name}”)"
                      if result["task"] else " (no task: machine observations only)") + ".")
        if result["untimed"]:
            summary += (f" {result['untimed']} image(s) without a timestamp were left out "
                        "(Camtrap DP needs one).")
        if copy_media:
            summary += f" Copied {result['copied']} file(s)."
        self.stdout.write(summary)
        if problems:
            raise CommandError("The package does not pass the Camtrap DP 1.0.2 checks:\n"
                               + "\n".join(problems))
        self.stdout.write("It passes the Camtrap DP 1.0.2 profile and table schemas.")
