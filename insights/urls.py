from django.contrib import admin
from django.urls import path

from . import views

app_name = "insights"

# admin_view: staff only (anonymous people go to the admin login), never cached.
urlpatterns = [
    path("surveys/<int:survey_id>/", admin.site.admin_view(views.survey_page), name="survey"),
    path("surveys/<int:survey_id>/<slug:slug>.<str:fmt>",
         admin.site.admin_view(views.plot_file), name="plot_file"),
]
