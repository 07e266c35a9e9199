from django.contrib import admin
from django.urls import path

from . import views

app_name = "annotation"


def _admin(view):
    """admin_view: staff only (anonymous people go to the admin login), never cached."""
    return admin.site.admin_view(view)


urlpatterns = [
    path("tasks/<int:task_id>/", _admin(views.explore_page), name="explore"),
    path("tasks/<int:task_id>/clusters/<int:annotation_id>/", _admin(views.explore_cluster),
         name="explore_cluster"),
    path("tasks/<int:task_id>/accept/", _admin(views.explore_accept), name="explore_accept"),
    path("tasks/<int:task_id>/relabel/", _admin(views.explore_relabel),
         name="explore_relabel"),
]
