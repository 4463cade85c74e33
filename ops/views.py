from django.contrib.auth.decorators import login_required, permission_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from ops.health import health_report, liveness_report
from ops.overview import operations_overview


def _answer(report: dict) -> JsonResponse:
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@require_safe  # GET or HEAD: some probes only ask for the status
@never_cache
def health(request):
    """No sign-in: each check's ok, the queue depths and beat's heartbeat age, nothing else."""
    return _answer(health_report())


@require_safe  # GET or HEAD: some probes only ask for the status
@never_cache
def liveness(request):
    return _answer(liveness_report())


@login_required
@permission_required("ops.view_operations", raise_exception=True)
def overview(request):
    return render(request, "ops/overview.html", operations_overview())
