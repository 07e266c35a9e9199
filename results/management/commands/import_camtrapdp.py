import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import UserError
from results.services.camtrapdp_import import do_import_camtrapdp
from surveys.selectors import organisation_named


class Command(BaseCommand):
    help = ("Import a Camtrap DP 1.0 package (datapackage.json, deployments.csv, media.csv, "
            "observations.csv) into a new or empty survey: sites and cameras, images, "
            "clusters, a finished task with the people's labels, AI suggestions and boxes.")

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organisation name (or id).")
        parser.add_argument("--survey", required=True,
                            help="Survey name: a new survey, or an empty one.")
        parser.add_argument("--package", required=True,
                            help="The folder that holds datapackage.json.")
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="Print the counts as JSON.")

    def handle(self, *args, org, survey, package, as_json, **options):
        try:
            organisation = organisation_named(org)
            result = do_import_camtrapdp(organisation, survey, Path(package))
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(result, sort_keys=True))
            return
        self.stdout.write(
            f"Imported {result['deployments']} deployment(s) at {result['sites']} site(s), "
            f"{result['media']} media ({result.get('stored_files', 0)} file(s) stored, the "
            f"others kept as links), {result['clusters']} event(s) as clusters "
            f"({result.get('labelled_clusters', 0)} labelled in task “{result['task']}”, "
            f"{result.get('suggestions', 0)} with an AI suggestion) and "
            f"{result.get('detections', 0)} box(es) into survey “{result['survey']}”.")

