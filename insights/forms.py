"""The insights page's filters: GET parameters checked into ``Filters``."""

from django import forms

from core.forms import DateRangeForm

from .exceptions import InsightsInputError
from .services.aggregates import Filters


class InsightsFilterForm(DateRangeForm):
    field_order = ["species", "site", "since", "until", "interval", "ai", "task"]
    species = forms.ChoiceField(required=False)
    site = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    interval = forms.FloatField(required=False, min_value=0, max_value=7 * 24 * 60,
                                initial=30, label="Independence (min)")
    ai = forms.BooleanField(required=False, label="Count AI-only detections")
    task = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)

    def __init__(self, data, *, species: list[str], sites: list[tuple[int, str]],
                 tasks: list[tuple[int, str]]):
        super().__init__(data)
        self.fields["species"].choices = [("", "all species"), *((s, s) for s in species)]
        self.fields["site"].choices = [("", "all sites"), *sites]
        self.fields["task"].choices = [("", "latest task"), *tasks]

    def filters(self) -> Filters:
        """The checked filters; raises InsightsInputError naming the first bad field."""
        if not self.is_valid():
            name, errors = next(iter(self.errors.items()))
            raise InsightsInputError(name, " ".join(errors))
        d = self.cleaned_data
        return Filters(species=d["species"] or "", site_id=d["site"], since=d["since"],
                       until=d["until"],
                       interval_minutes=30.0 if d["interval"] is None else d["interval"],
                       include_ai=bool(d["ai"]), task_id=d["task"])


class ThresholdForm(forms.Form):
    threshold = forms.FloatField(required=False, min_value=0, max_value=1, initial=0,
                                 label="Score threshold",
                                 help_text="suggestions scoring under it count as no answer",
                                 widget=forms.NumberInput(attrs={"step": "0.01"}))

    def threshold_value(self) -> float:
        """The checked threshold (0 when empty); raises InsightsInputError naming the field."""
        if not self.is_bound:
            return 0.0
        if not self.is_valid():
            name, errors = next(iter(self.errors.items()))
            raise InsightsInputError(name, " ".join(errors))
        value = self.cleaned_data["threshold"]
        return 0.0 if value is None else value
