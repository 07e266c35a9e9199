"""surveys 0016: the site's country becomes a django-countries field; stored codes stay."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import SurveyFactory

BEFORE = [("surveys", "0015_import_issue_hint")]


@pytest.mark.django_db(transaction=True)
def test_stored_countries_and_regions_are_kept():
    survey = SurveyFactory()
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("surveys", "Site")
    for name, country, region in (("a", "KE", "KE-30"), ("b", "US", "US-CA"), ("c", "", ""),
                                  ("d", "AX", "")):
        old.objects.create(survey_id=survey.pk, name=name, country=country, region=region)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from surveys.models import Site

    got = {s.name: (s.country.code, s.country.name, s.region) for s in Site.objects.all()}
    assert got == {"a": ("KE", "Kenya", "KE-30"), "b": ("US", "United States of America",
                                                        "US-CA"),
                   "c": ("", "", ""), "d": ("AX", "Åland Islands", "")}
