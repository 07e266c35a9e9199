"""Links to the insights from the survey and task admins.

The insights app sits above surveys and annotation, so neither names it: this module
swaps the registered SurveyAdmin and TaskAdmin for subclasses that add "Insights" links
to the change list and to the change page's tools (the same admins otherwise).
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from annotation.admin import TaskAdmin
from annotation.models import Task
from surveys.admin import SurveyAdmin
from surveys.models import Survey


class SurveyWithInsightsAdmin(SurveyAdmin):
    list_display = [*SurveyAdmin.list_display, "insights_link"]
    change_form_template = "admin/insights/survey_change_form.html"

    @admin.display(description="insights")
    def insights_link(self, obj):
        return format_html('<a href="{}">Insights</a>', reverse("insights:survey", args=[obj.pk]))


class TaskWithInsightsAdmin(TaskAdmin):
    list_display = [*TaskAdmin.list_display, "insights_links"]
    change_form_template = "admin/insights/task_change_form.html"

    @admin.display(description="insights")
    def insights_links(self, obj):
        return format_html('<a href="{}">Annotation</a> · <a href="{}">Classifier</a>',
                           reverse("insights:task", args=[obj.pk]),
                           reverse("insights:classifier", args=[obj.pk]))


admin.site.unregister(Survey)
admin.site.register(Survey, SurveyWithInsightsAdmin)
admin.site.unregister(Task)
admin.site.register(Task, TaskWithInsightsAdmin)
