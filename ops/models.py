from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """One row per running task worker, touched every few seconds by `manage.py worker` (readiness, dashboard)."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class DataExportQuerySet(models.QuerySet):
    def for_user(self, user) -> "DataExportQuerySet":
        return self.filter(owner=user)


class DataExport(models.Model):
    """A user's "Export my data" ZIP, built by a task and downloadable until `expires_at`."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    file = models.CharField(max_length=255, blank=True)  # storage name: exports/<owner>/<random>.zip
    bytes = models.PositiveBigIntegerField(default=0)
    error_message = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = DataExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"export #{self.pk} {self.status}"

    @property
    def is_downloadable(self) -> bool:
        return self.status == self.Status.READY and bool(self.expires_at and self.expires_at > timezone.now())

    @property
    def download_url(self) -> str:
        return reverse("account-export-download", args=[self.pk])
