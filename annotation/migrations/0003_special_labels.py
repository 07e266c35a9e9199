from django.db import migrations

# Kept here (not imported from taxonomy) so the migration never changes.
SPECIAL = [
    ("Nothing", "n", True),
    ("Unknown", "u", False),
    ("Vehicles/Humans/Livestock", "v", False),
    ("Knocked Down", "q", True),
]


def create(apps, schema_editor):
    Label = apps.get_model("annotation", "Label")
    for name, hotkey, exclusive in SPECIAL:
        Label.objects.get_or_create(
            task=None, parent=None, name=name, defaults={"hotkey": hotkey, "exclusive": exclusive}
        )


def remove(apps, schema_editor):
    Label = apps.get_model("annotation", "Label")
    Label.objects.filter(task=None, name__in=[s[0] for s in SPECIAL]).delete()


class Migration(migrations.Migration):
    dependencies = [("annotation", "0002_initial")]
    operations = [migrations.RunPython(create, remove)]
