"""Form pieces several pages share."""

from django import forms


class DateRangeForm(forms.Form):
    """``since`` and ``until`` days (both optional, ``until`` included), checked in order.

    Days are the survey's (the cameras' local) days; the page's reads turn them
    into times in the survey's time zone.
    """

    since = forms.DateField(required=False, input_formats=["%Y-%m-%d"],
                            widget=forms.DateInput(attrs={"type": "date"}),
                            help_text="first day (camera's local time)")
    until = forms.DateField(required=False, input_formats=["%Y-%m-%d"],
                            widget=forms.DateInput(attrs={"type": "date"}),
                            help_text="last day, included")

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", f"{until} is before the first day {since}.")
        return cleaned
