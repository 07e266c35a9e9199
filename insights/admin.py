"""Links to the insights from the survey admin.

The insights app sits above surveys, so surveys never names it: this module swaps the
registered SurveyAdmin for a subclass that adds an "Insights" link to the change list
and to the change page's tools (the same admin otherwise).
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from surveys.admin import SurveyAdmin
from surveys.models import Survey


class SurveyWithInsightsAdmin(SurveyAdmin):
    list_display = [*SurveyAdmin.list_display, "insights_link"]
    change_form_template = "admin/insights/survey_change_form.html"

    @admin.display(description="insights")
    def insights_link(self, obj):
        return format_html('<a href="{}">Insights</a>', reverse("insights:survey", args=[obj.pk]))


admin.site.unregister(Survey)
admin.site.register(Survey, SurveyWithInsightsAdmin)
