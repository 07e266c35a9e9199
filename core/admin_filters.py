"""Admin helpers shared by the apps."""

from django.contrib import admin


def choices_without(*hidden: str) -> type[admin.ChoicesFieldListFilter]:
    """A list filter over a choices field that leaves out ``hidden`` values.

    Used for statuses that nothing sets yet (each app's taxonomy lists them),
    so that an admin never filters or sets a value that does nothing.
    """

    class ChoicesWithout(admin.ChoicesFieldListFilter):
        def choices(self, changelist):
            labels = {str(label) for value, label in self.field.flatchoices if value in hidden}
            for choice in super().choices(changelist):
                if str(choice["display"]) not in labels:
                    yield choice

    return ChoicesWithout


def drop_choices(formfield, hidden) -> None:
    """Remove ``hidden`` values from a choice form field."""
    if formfield is not None and hasattr(formfield, "choices"):
        formfield.choices = [c for c in formfield.choices if c[0] not in hidden]
