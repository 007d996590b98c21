"""The product's URLs plus the bench's reference views under /__bench__/ (bench servers only)."""

from django.urls import path

from bench.refapp import views
from imagegen_site.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    *product_urlpatterns,
    path("__bench__/insert/", views.bare_insert, name="bench-insert"),
    path("__bench__/post-floor/<int:pk>/", views.post_floor, name="bench-post-floor"),
    path("__bench__/template/", views.bare_template, name="bench-template"),
    path("__bench__/rows/", views.BareRowList.as_view(), name="bench-rows"),
]
