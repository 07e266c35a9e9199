from django.urls import path

from core.views import admin_page

from . import views

app_name = "insights"


urlpatterns = [
    path("surveys/<int:survey_id>/", admin_page(views.survey_page_view), name="survey"),
    path("surveys/<int:survey_id>/<slug:slug>.<str:fmt>", admin_page(views.plot_file),
         name="plot_file"),
    path("tasks/<int:task_id>/", admin_page(views.task_page_view), name="task"),
    path("tasks/<int:task_id>/<slug:slug>.<str:fmt>", admin_page(views.task_plot_file),
         name="task_plot_file"),
    path("tasks/<int:task_id>/classifier/", admin_page(views.classifier_page_view),
         name="classifier"),
    path("tasks/<int:task_id>/classifier/<slug:slug>.<str:fmt>",
         admin_page(views.classifier_plot_file), name="classifier_plot_file"),
]
