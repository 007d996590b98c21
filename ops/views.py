"""Account data pages (export, delete) and the staff dashboard. Thin: the work is in accounts.py and stats.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import heartbeat, stats
from .accounts import ExportBusy, account_delete, export_request
from .models import DataExport


def _exports(request: HttpRequest):
    return DataExport.objects.for_user(request.user)[:5]


@login_required
@require_GET
def account_data(request: HttpRequest) -> HttpResponse:
    exports = list(_exports(request))
    pending = any(e.status in (DataExport.Status.QUEUED, DataExport.Status.RUNNING) for e in exports)
    template = "ops/_exports.html" if request.headers.get("HX-Request") else "ops/account_data.html"
    return render(request, template, {"exports": exports, "exports_pending": pending, "nav": "settings", "tab": "data"})


@login_required
@require_POST
def export_create(request: HttpRequest) -> HttpResponse:
    try:
        export_request(owner=request.user)
        messages.success(request, "Your export is being prepared. This page updates when it is ready.")
    except ExportBusy as e:
        messages.info(request, str(e))
    return redirect("account-data")


@login_required
@require_GET
def export_download(request: HttpRequest, pk: int) -> FileResponse:
    export = get_object_or_404(DataExport.objects.for_user(request.user), pk=pk)
    if not export.is_downloadable:
        raise Http404("This export has expired or is not ready.")
    try:
        handle = default_storage.open(export.file, "rb")
    except FileNotFoundError:
        raise Http404 from None
    filename = f"imagegen-export-{export.created:%Y%m%d-%H%M}.zip"
    response = FileResponse(handle, content_type="application/zip", as_attachment=True, filename=filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@sensitive_post_parameters("password")
@login_required
@require_http_methods(["GET", "POST"])
def account_delete_view(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        user = request.user
        if request.POST.get("confirm_username", "") != user.get_username():
            error = "Type your user name exactly to confirm."
        elif not user.check_password(request.POST.get("password", "")):
            error = "That password is not right."
        else:
            logout(request)
            counts = account_delete(user=user)
            messages.success(
                request, f"Your account is deleted: {counts['chats']} chats, {counts['images']} images and their files."
            )
            return redirect("login")
    context = {"error": error, "confirm_username": request.POST.get("confirm_username", ""), "nav": "settings", "tab": "data"}
    return render(request, "ops/account_delete.html", context, status=400 if error else 200)


@staff_member_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    days = stats.per_day_by_provider(days=14)
    context = {
        "title": "Operations dashboard",
        "per_day": days,
        "failure_rate": stats.failure_rate(days=7),
        "top_users": stats.top_users_by_cost(limit=10, days=30),
        "queue": stats.queue_depth(),
        "workers": list(heartbeat.live_workers()) if stats.uses_db_workers() else None,
        "uses_db_workers": stats.uses_db_workers(),
    }
    return render(request, "ops/dashboard.html", context)
