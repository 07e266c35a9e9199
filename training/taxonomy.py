from django.db import models


class TrainingStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a gpu worker"
    RUNNING = "running", "Training"
    DONE = "done", "Registered"
    FAILED = "failed", "Failed"
