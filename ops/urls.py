from django.urls import path

from . import health, metrics, views

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("account/data/", views.account_data, name="account-data"),
    path("account/export/", views.export_create, name="account-export"),
    path("account/export/<int:pk>/download/", views.export_download, name="account-export-download"),
    path("account/delete/", views.account_delete_view, name="account-delete"),
    path("ops/dashboard/", views.dashboard, name="ops-dashboard"),
]
