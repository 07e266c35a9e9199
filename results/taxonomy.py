from django.db import models


class ExportKind(models.TextChoices):
    RESULTS_CSV = "results_csv", "Results CSV (a row per cluster and species)"
    CAMTRAP_DP = "camtrapdp", "Camtrap DP 1.0 package (zip)"
    COCO = "coco", "COCO Camera Traps JSON"
    RECORD_TABLE = "record_table", "Record table and camera operation (zip)"
    WORKBOOK = "workbook", "Excel workbook of cluster counts per site and label"
    # Built by the training app, which registers the format (training.apps).
    TRAINING_DATA = "training_data", "Training data: box crops and label files (zip)"


class ExportStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Running"
    DONE = "done", "Ready to download"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired (file deleted)"
