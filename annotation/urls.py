from django.urls import path

from core.views import admin_page

from . import views

app_name = "annotation"


urlpatterns = [
    path("tasks/<int:task_id>/", admin_page(views.explore_page), name="explore"),
    path("tasks/<int:task_id>/clusters/<int:annotation_id>/", admin_page(views.explore_cluster),
         name="explore_cluster"),
    path("tasks/<int:task_id>/accept/", admin_page(views.explore_accept), name="explore_accept"),
    path("tasks/<int:task_id>/relabel/", admin_page(views.explore_relabel),
         name="explore_relabel"),
]
