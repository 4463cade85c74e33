"""Callbacks from cloud warehouses: thin, the service verifies, stores and applies."""

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.client_address import client_address
from integrations.wms.qimen.callbacks import qimen_callback_receive


@csrf_exempt  # the WMS cannot send a CSRF token; the Qimen MD5 signature authenticates it
@require_POST
def qimen_callback(request, warehouse_code: str):
    answer = qimen_callback_receive(
        warehouse_code=warehouse_code,
        params=request.GET.dict(),
        headers=dict(request.headers),
        raw_body=request.body,
        client_address=client_address(request),
    )
    return HttpResponse(answer.body, status=answer.status, content_type="text/xml; charset=utf-8")
