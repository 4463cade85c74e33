from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.client_address import client_address
from integrations.adapters import REQUEST_PATH_HEADER, get_adapter
from integrations.services import Outcome, inbound_message_receive


def _answers():
    return {
        Outcome.ACCEPTED: (202, _("Accepted for processing.")),
        Outcome.DUPLICATE: (200, _("Duplicate delivery: already received.")),
        Outcome.PING: (200, _("Ping received.")),
        Outcome.REJECTED: (401, _("Bad or missing signature.")),
        Outcome.THROTTLED: (429, _("Too many unsigned requests: try again in a minute.")),
        Outcome.MALFORMED: (400, _("The body is not a JSON object; it was kept for review.")),
        Outcome.UNKNOWN: (404, _("Unknown platform or channel.")),
    }


@csrf_exempt  # platforms cannot send a CSRF token; the body's HMAC signature authenticates them
@require_POST
def platform_webhook(request, platform: str, channel_code: str):
    receipt = inbound_message_receive(
        platform=platform,
        channel_code=channel_code,
        headers={**request.headers, REQUEST_PATH_HEADER: request.get_full_path()},
        raw_body=request.body,
        client_address=client_address(request),
    )
    try:
        answer = get_adapter(platform).answer(receipt.outcome)
    except LookupError:
        answer = None
    if answer is not None:  # the platform's required answer (Douyin: {"code": 0, "msg": "success"})
        return JsonResponse(answer[1], status=answer[0])
    status, detail = _answers()[receipt.outcome]
    body = {"status": receipt.outcome, "detail": detail}
    if receipt.message is not None and receipt.outcome != Outcome.PING:
        body["message_id"] = receipt.message.pk
        if receipt.message.error:
            body["error"] = receipt.message.error
    response = JsonResponse(body, status=status)
    if receipt.outcome == Outcome.THROTTLED:
        response["Retry-After"] = "60"
    return response
