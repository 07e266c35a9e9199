"""results 0001 + training 0005: the Export model moves from training to results.

A database made before the move (exports of every status, a training run on one, a
group with export permissions, an admin history entry) comes out of the migration
with its rows intact, read through the new model, and its people keep their access.
"""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import TaskFactory, UserFactory

# Before the move: training as it was, and no results app in the database's state.
BEFORE = [("training", "0004_training_run"), ("results", None)]


def _migrate(targets):
    """Migrate to ``targets``; the apps of the state the database is then in."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    ContentType.objects.clear_cache()
    apps_at = {app: name for app, name in targets}
    state = [(app, name) for app, name in executor.loader.graph.leaf_nodes()
             if app not in apps_at] + [(app, name) for app, name in targets if name]
    return executor.loader.project_state(state).apps


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def old_database(transactional_db):
    """The database rolled back to before the move; put back to the latest state after."""
    task = TaskFactory()  # tables that the migration leaves alone: made with today's models
    viewer = UserFactory(username="viewer")
    apps = _migrate(BEFORE)
    yield apps, task, viewer
    _migrate(_latest())


def _seed(apps, task, viewer):
    Export = apps.get_model("training", "Export")
    TrainingRun = apps.get_model("training", "TrainingRun")
    ContentType_ = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    LogEntry = apps.get_model("admin", "LogEntry")
    # As a database from before the move has them: the content type under training, with
    # its four permissions, and none under results.
    ContentType_.objects.filter(app_label="results").delete()
    old_type, _ = ContentType_.objects.get_or_create(app_label="training", model="export")
    for action in ("add", "change", "delete", "view"):
        Permission.objects.get_or_create(content_type=old_type, codename=f"{action}_export",
                                         defaults={"name": f"Can {action} export"})
    survey_id = task.survey_id
    exports = [
        Export.objects.create(survey_id=survey_id, task_id=task.pk, kind="coco", status="done",
                              file_key="exports/1/7/s-coco.json", file_size=1234),
        Export.objects.create(survey_id=survey_id, kind="camtrapdp", status="failed",
                              message="Sites Site1 have none: add coordinates"),
        Export.objects.create(survey_id=survey_id, task_id=task.pk, kind="training_data",
                              status="done", file_key="exports/1/9/s-training-data.zip",
                              options={"tasks": [task.pk], "crop_size": 128}),
    ]
    TrainingRun.objects.create(organisation_id=task.survey.organisation_id,
                               export=exports[2], name="Run one")
    group = Group.objects.create(name="Export viewers")
    group.permissions.add(*Permission.objects.filter(
        content_type=old_type, codename__in=["view_export", "add_export"]))
    group.user_set.add(viewer.pk)
    LogEntry.objects.create(user_id=viewer.pk, content_type=old_type,
                            object_id=str(exports[0].pk), object_repr="COCO", action_flag=1)
    rows = {e.pk: (e.kind, e.status, e.message, e.file_key, e.file_size, e.options, e.task_id,
                   e.created_at) for e in exports}
    return rows, old_type.pk


def _read():
    from results.models import Export

    return {e.pk: (e.kind, e.status, e.message, e.file_key, e.file_size, e.options, e.task_id,
                   e.created_at) for e in Export.objects.all()}


def test_exports_and_their_training_run_survive_the_move(old_database):
    apps, task, viewer = old_database
    rows, _type = _seed(apps, task, viewer)

    _migrate(_latest())

    from training.models import TrainingRun

    assert _read() == rows
    run = TrainingRun.objects.select_related("export").get()
    assert (run.name, run.export.kind, run.export.options["crop_size"]) == (
        "Run one", "training_data", 128)
    with connection.cursor() as cursor:  # the table kept its name: nothing was copied
        assert "training_export" in connection.introspection.table_names(cursor)


def test_existing_permissions_and_admin_history_follow_the_model(old_database):
    apps, task, viewer = old_database
    _rows, old_type = _seed(apps, task, viewer)

    _migrate(_latest())

    from django.contrib.admin.models import LogEntry

    from accounts.models import User
    from results.models import Export

    moved = ContentType.objects.get_for_model(Export)
    assert (moved.pk, moved.app_label) == (old_type, "results")  # the same row, renamed
    assert not ContentType.objects.filter(app_label="training", model="export").exists()
    viewer = User.objects.get(pk=viewer.pk)
    assert viewer.has_perm("results.view_export") and viewer.has_perm("results.add_export")
    assert not viewer.has_perm("results.delete_export")
    entry = LogEntry.objects.get()
    assert entry.get_edited_object().kind == "coco"
    assert entry.get_admin_url().startswith("/admin/results/export/")


def test_a_content_type_already_made_for_results_is_merged(old_database):
    """post_migrate may have made results.export before the migration ran: what points at the
    old content type moves to that one, and the old one goes."""
    apps, task, viewer = old_database
    _rows, old_type = _seed(apps, task, viewer)
    ContentType_ = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    early = ContentType_.objects.create(app_label="results", model="export")
    change = Permission.objects.create(content_type=early, codename="change_export",
                                       name="Can change export")
    Permission.objects.create(content_type=early, codename="view_export",
                              name="Can view export")
    Group.objects.create(name="Export changers").permissions.add(change)

    _migrate(_latest())

    from django.contrib.admin.models import LogEntry
    from django.contrib.auth.models import Group as RealGroup

    from accounts.models import User

    assert list(ContentType.objects.filter(model="export").values_list("pk", "app_label")) \
        == [(early.pk, "results")]
    viewer = User.objects.get(pk=viewer.pk)
    assert viewer.has_perm("results.view_export") and viewer.has_perm("results.add_export")
    changers = RealGroup.objects.get(name="Export changers")
    assert [p.codename for p in changers.permissions.all()] == ["change_export"]
    assert LogEntry.objects.get().content_type_id == early.pk
    assert old_type != early.pk
