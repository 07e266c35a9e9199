from django.db import models


class TaskStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    LAUNCHED = "launched", "Launched"
    FINISHED = "finished", "Finished"


class TaggingLevel(models.TextChoices):
    SPECIES = "species", "Species (top-level labels)"


# Hotkeys taken by the special labels (and Skip) at the top level of every task.
RESERVED_TOP_HOTKEYS = frozenset({"n", "u", "v", "q", "0"})
SPECIAL_LABELS = [
    # (name, hotkey, exclusive: cannot be combined with other labels)
    ("Nothing", "n", True),
    ("Unknown", "u", False),
    ("Vehicles/Humans/Livestock", "v", False),
    ("Knocked Down", "q", True),
]
NOTE_MAX_LENGTH = 512
