"""The Export model moves from the training app to this one; its table stays.

State only: the table keeps its name (training_export, Export.Meta.db_table), its
rows, indexes and the foreign key training_trainingrun.export_id that points at it.
training 0005 then drops the model from the training app's state. The content type
moves with the model (training.export becomes results.export, same row), so the
permissions of existing groups and users and the admin's history keep working.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _move_content_type(source: str, target: str):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        Permission = apps.get_model("auth", "Permission")
        LogEntry = apps.get_model("admin", "LogEntry")
        db = schema_editor.connection.alias
        types = ContentType.objects.using(db)
        old = types.filter(app_label=source, model="export").first()
        if old is None:
            return  # a new database: post_migrate makes the content type under its app
        new = types.filter(app_label=target, model="export").first()
        if new is None:
            old.app_label = target
            old.save(update_fields=["app_label"])
            return
        # Both exist (something ran post_migrate with the new code before this migration):
        # keep the new one, and carry over what pointed at the old one.
        for permission in Permission.objects.using(db).filter(content_type=old):
            twin = Permission.objects.using(db).filter(content_type=new,
                                                       codename=permission.codename).first()
            if twin is None:
                permission.content_type = new
                permission.save(update_fields=["content_type"])
                continue
            twin.group_set.add(*permission.group_set.all())
            twin.user_set.add(*permission.user_set.all())
            permission.delete()
        LogEntry.objects.using(db).filter(content_type=old).update(content_type=new)
        old.delete()
    return move


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        # The table is made by the training app's migrations: it must exist first.
        ('training', '0004_training_run'),
        ('annotation', '0007_bulk_actions'),
        ('surveys', '0011_default_detector'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('auth', '0012_alter_user_first_name_max_length'),
        ('admin', '0003_logentry_add_action_flag_choices'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Export',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('results_csv', 'Results CSV (a row per cluster and species)'), ('camtrapdp', 'Camtrap DP 1.0 package (zip)'), ('coco', 'COCO Camera Traps JSON'), ('record_table', 'Record table and camera operation (zip)'), ('workbook', 'Excel workbook of cluster counts per site and label'), ('training_data', 'Training data: box crops and label files (zip)')], max_length=20)),
                        ('status', models.CharField(choices=[('pending', 'Waiting for a worker'), ('running', 'Running'), ('done', 'Ready to download'), ('failed', 'Failed'), ('expired', 'Expired (file deleted)')], default='pending', max_length=20)),
                        ('message', models.CharField(blank=True, max_length=1000)),
                        ('options', models.JSONField(blank=True, default=dict)),
                        ('done', models.PositiveIntegerField(default=0)),
                        ('total', models.PositiveIntegerField(default=0)),
                        ('file_key', models.CharField(blank=True, max_length=500)),
                        ('file_size', models.PositiveBigIntegerField(default=0)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('expires_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('survey', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='exports', to='surveys.survey')),
                        ('task', models.ForeignKey(blank=True, help_text="Whose labels are exported (default: the survey's latest task).", null=True, on_delete=django.db.models.deletion.CASCADE, related_name='exports', to='annotation.task')),
                    ],
                    options={
                        'db_table': 'training_export',
                        'ordering': ['-created_at'],
                        'indexes': [models.Index(fields=['status', 'expires_at'], name='training_ex_status_89f4dc_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(_move_content_type("training", "results"),
                             _move_content_type("results", "training")),
    ]
