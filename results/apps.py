from django.apps import AppConfig


class ResultsConfig(AppConfig):
    """Results formats in and out (CSV, Camtrap DP, COCO, workbook, record table) and the
    exports a worker makes of them."""

    name = "results"
    verbose_name = "Results"
    default_auto_field = "django.db.models.BigAutoField"
