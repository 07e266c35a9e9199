from django.contrib import admin
from django.urls import path

from . import views

app_name = "insights"


def _admin(view):
    """admin_view: staff only (anonymous people go to the admin login), never cached."""
    return admin.site.admin_view(view)


urlpatterns = [
    path("surveys/<int:survey_id>/", _admin(views.survey_page_view), name="survey"),
    path("surveys/<int:survey_id>/<slug:slug>.<str:fmt>", _admin(views.plot_file),
         name="plot_file"),
    path("tasks/<int:task_id>/", _admin(views.task_page_view), name="task"),
    path("tasks/<int:task_id>/<slug:slug>.<str:fmt>", _admin(views.task_plot_file),
         name="task_plot_file"),
    path("tasks/<int:task_id>/classifier/", _admin(views.classifier_page_view),
         name="classifier"),
    path("tasks/<int:task_id>/classifier/<slug:slug>.<str:fmt>",
         _admin(views.classifier_plot_file), name="classifier_plot_file"),
]
