from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.client_address import client_address
from integrations.carriers.services import Outcome, tracking_push_receive

# Kuaidi100 re-sends a push until it gets {"result": true, "returnCode": "200"}; the Chinese
# message is part of its documented answer, not UI text.
ANSWERS = {
    Outcome.ACCEPTED: (200, {"result": True, "returnCode": "200", "message": "成功"}),
    Outcome.REJECTED: (401, {"result": False, "returnCode": "401", "message": "bad or missing signature"}),
    Outcome.THROTTLED: (429, {"result": False, "returnCode": "429", "message": "too many unsigned requests"}),
    Outcome.MALFORMED: (400, {"result": False, "returnCode": "400", "message": "malformed param"}),
    Outcome.UNCONFIGURED: (404, {"result": False, "returnCode": "404", "message": "not configured"}),
}


@csrf_exempt  # Kuaidi100 cannot send a CSRF token; the MD5(param + salt) signature authenticates it
@require_POST
def kuaidi100_callback(request):
    raw_body = request.body  # read first: the raw bytes are what we keep
    form = {"param": request.POST.get("param", ""), "sign": request.POST.get("sign", "")}
    receipt = tracking_push_receive(
        form=form, raw_body=raw_body, headers=dict(request.headers), client_address=client_address(request)
    )
    status, body = ANSWERS[receipt.outcome]
    if receipt.outcome == Outcome.MALFORMED and receipt.message is not None:
        body = {**body, "message": receipt.message.error[:200]}
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})
