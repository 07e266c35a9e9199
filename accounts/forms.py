from django import forms

from .exceptions import AccountsError
from .services.organisations import check_enquiry


class EnquiryForm(forms.Form):
    organisation_name = forms.CharField(max_length=150, label="Organisation name")
    email = forms.EmailField(label="Your email")
    contact_name = forms.CharField(max_length=150, required=False, label="Your name")
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), max_length=2000, required=False,
        label="What will you use TrapTagger for?",
    )

    def clean(self):
        data = super().clean()
        if "organisation_name" in data and "email" in data:
            try:
                check_enquiry(data["organisation_name"], data["email"])
            except AccountsError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return data
