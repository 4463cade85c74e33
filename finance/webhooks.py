"""Payment-provider webhooks. Thin: the body's signature authenticates the provider, the
callback service does the rest; the answer is what each provider expects."""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.client_address import client_address
from finance.callbacks import Outcome, payment_callback_receive

ANSWERED = (Outcome.PROCESSED, Outcome.IGNORED, Outcome.DUPLICATE)


def _receive(request, provider: str):
    """Hand the raw callback to the service: what every provider's webhook does before it answers."""
    return payment_callback_receive(
        provider=provider,
        headers=dict(request.headers),
        raw_body=request.body,
        client_address=client_address(request),
    )


@csrf_exempt  # providers cannot send a CSRF token; the signature authenticates them
@require_POST
def stripe_webhook(request):
    receipt = _receive(request, "stripe")
    body = {"status": receipt.outcome}
    if receipt.error:
        body["error"] = receipt.error
    if receipt.callback is not None and receipt.outcome != Outcome.REJECTED:
        body["callback_id"] = receipt.callback.pk
    # A non-2xx answer makes Stripe retry, which replays a failed callback.
    return JsonResponse(body, status=200 if receipt.outcome in ANSWERED else receipt.status_code)


@csrf_exempt
@require_POST
def alipay_webhook(request):
    receipt = _receive(request, "alipay")
    # Alipay reads the body: "success" stops its retries, anything else makes it try again later.
    if receipt.outcome in ANSWERED:
        return HttpResponse("success", content_type="text/plain")
    return HttpResponse("failure", content_type="text/plain", status=receipt.status_code)


@csrf_exempt
@require_POST
def wechatpay_webhook(request):
    receipt = _receive(request, "wechat_pay")
    # 回调通知应答: 200 (or 204) stops WeChat Pay's retries; 4xx/5xx with {"code": "FAIL",
    # "message": at most 64 characters} makes it notify again later.
    if receipt.outcome in ANSWERED:
        return JsonResponse({"code": "SUCCESS", "message": "OK"})
    message = (receipt.error or receipt.outcome)[:64]
    return JsonResponse(
        {"code": "FAIL", "message": message},
        status=receipt.status_code,
        json_dumps_params={"ensure_ascii": False},
    )


@csrf_exempt
@require_POST
def unionpay_webhook(request):
    receipt = _receive(request, "unionpay")
    # UnionPay's back notification: HTTP 200 stops its retries (the SDK demos answer "ok"); any other
    # status makes it notify again later, which replays a failed callback.
    if receipt.outcome in ANSWERED:
        return HttpResponse("ok", content_type="text/plain")
    return HttpResponse(receipt.outcome, content_type="text/plain", status=receipt.status_code)
