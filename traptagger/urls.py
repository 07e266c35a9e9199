from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from annotation import views as annotation_views
from core import views as core_views
from results import views as results_views
from surveys import views as survey_views

admin.site.site_header = "TrapTagger administration"
admin.site.site_title = "TrapTagger"
admin.site.index_title = "Your organisations' surveys, tasks and members"

urlpatterns = [
    path("", annotation_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("help/", core_views.help_page, name="help"),
    path("annotate/<int:task_id>/", annotation_views.tagging_page, name="tagging_page"),
    path("images/<int:image_id>/<str:variant>/", survey_views.image_file, name="image_file"),
    path("exports/<int:export_id>/download/", results_views.export_download,
         name="export_download"),
    path("api/", include("traptagger.api")),
    # Exports moved from the training app to results: old admin addresses (bookmarks, links
    # in mails) lead to the same pages.
    re_path(r"^admin/training/export/(?P<rest>.*)$",
            RedirectView.as_view(url="/admin/results/export/%(rest)s", query_string=True)),
    path("admin/", admin.site.urls),
    path("insights/", include("insights.urls")),
    path("explore/", include("annotation.urls")),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
]
