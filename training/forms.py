"""The admin's training-data form: which tasks, which boxes, which label rules."""

from django import forms

from annotation.models import Task

from .services.crops import CROP_SIZE
from .services.training_data import MIN_AREA, TrainingDataOptions


class TrainingDataForm(forms.Form):
    tasks = forms.ModelMultipleChoiceField(
        queryset=Task.objects.none(), help_text="One task per survey; each survey is a "
        "dataset, its sites the locations.")
    min_area = forms.FloatField(initial=MIN_AREA, min_value=0, max_value=0.99,
                                help_text="Smallest box, as a fraction of the image.")
    min_score = forms.FloatField(required=False, min_value=0, max_value=1,
                                 help_text="Smallest detector confidence (blank: the "
                                 "detector's relevance threshold).")
    group_under = forms.IntegerField(initial=0, min_value=0, help_text="Labels with fewer "
                                     "crops join their parent label (0: never).")
    exclude_under = forms.IntegerField(initial=0, min_value=0, help_text="Labels with fewer "
                                       "crops, after grouping, are left out (0: none).")
    crop_size = forms.IntegerField(initial=CROP_SIZE, min_value=16, max_value=1024,
                                   help_text="Crop side in pixels.")

    def __init__(self, *args, tasks=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tasks"].queryset = tasks if tasks is not None else Task.objects.none()

    def options(self) -> TrainingDataOptions:
        data = self.cleaned_data
        return TrainingDataOptions(min_area=data["min_area"], min_score=data["min_score"],
                                   group_under=data["group_under"],
                                   exclude_under=data["exclude_under"],
                                   crop_size=data["crop_size"])
