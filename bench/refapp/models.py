from django.db import models


class BenchRow(models.Model):
    """A simple model: the reference for one INSERT (P1) and for a 50-row DRF list (P3)."""

    name = models.CharField(max_length=100)
    value = models.IntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
