"""The Export model now belongs to the results app (results 0001): drop it from this app's
state, and point TrainingRun.export at results.Export. State only: the table
training_export and the foreign key to it stay as they are."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('results', '0001_initial'),
        ('training', '0004_training_run'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='trainingrun',
                    name='export',
                    field=models.ForeignKey(help_text='A finished training-data export.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='training_runs', to='results.export'),
                ),
                migrations.DeleteModel(
                    name='Export',
                ),
            ],
            database_operations=[],
        ),
    ]
