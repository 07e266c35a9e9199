from django.db import models


class TaskStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    LAUNCHED = "launched", "Launched"
    FINISHED = "finished", "Finished"


# Statuses that nothing sets yet: hidden from the admin until their issue wires them.
# (FINISHED is set by a Camtrap DP import: its task holds labels people already gave.)
UNWIRED_TASK_STATUSES: frozenset[str] = frozenset()


class AutoLabelRule(models.TextChoices):
    """When the classifier's votes label a cluster nobody has labelled (domain: auto-label)."""

    OFF = "off", "Off"
    STANDARD = "standard", "At least 1 box and over half the boxes"
    OPEN = "open", "Also 5+ boxes and over a quarter (plains, waterholes)"


class TaggingLevel(models.TextChoices):
    SPECIES = "species", "Species (top-level labels)"
    AI_CHECK = "ai_check", "AI check (accept or reject AI suggestions that differ from the label)"


class AiCheck(models.TextChoices):
    """Where a cluster stands in its task's AI check (domain: AI check tagging level).

    A cluster is queued when the classifier's suggestion, translated to the
    task's labels, is not among the labels people gave it; a person then
    accepts the suggestion (it becomes the label), rejects it (the labels
    stay) or gives other labels.
    """

    NONE = "", "Not queued"
    PENDING = "pending", "Waiting for a check"
    ACCEPTED = "accepted", "Suggestion accepted"
    REJECTED = "rejected", "Suggestion rejected"
    OTHER = "other", "Other labels given"


class BulkKind(models.TextChoices):
    """Actions that label many clusters at once (annotation.services.bulk)."""

    ACCEPT_AI = "accept_ai", "Accepted AI suggestions"
    RELABEL = "relabel", "Relabelled clusters"


AI_VERDICTS = (AiCheck.ACCEPTED, AiCheck.REJECTED, AiCheck.OTHER)


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


def hotkey_problem(hotkey: str, *, top_level: bool, taken: dict[str, str],
                   name: str = "This label") -> str | None:
    """Why ``hotkey`` cannot be a task label's key, or None when it can.

    The one hotkey rule, used by the model, the admin's label formset and the
    task services. ``taken`` maps keys already used at the same level to the
    labels using them.
    """
    hotkey = (hotkey or "").lower()
    if not hotkey:
        return None
    if top_level and hotkey in RESERVED_TOP_HOTKEYS:
        return (f"The hotkey “{hotkey}” is reserved for the special labels (n, u, v, q) "
                "and Skip (0).")
    if len(hotkey) != 1 or not hotkey.isalnum():
        return "Use a letter or a digit as the hotkey."
    if hotkey in taken:
        return (f"“{name}” and “{taken[hotkey]}” share the hotkey “{hotkey}”; give each "
                "label its own key at this level.")
    return None
