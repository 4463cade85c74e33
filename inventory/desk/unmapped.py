"""The desk's queue of unmapped platform items: each item orders wait for, with how many orders
and units; an agent picks the SKU (by code, barcode or name) and maps it once — every waiting
order gets it and is released when nothing else holds it (orders.item_mapping)."""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from catalog.models import Channel
from core.desk_messages import form_errors
from core.errors import DomainError
from inventory.item_mappings import sku_candidates
from orders.item_mapping import item_map
from orders.unmapped import unmapped_items

PAGE_SIZE = 50
ITEM_FIELDS = ("channel", "platform_item_id", "platform_sku_id", "seller_code", "title")


class QueueFilterForm(forms.Form):
    channel = forms.ModelChoiceField(
        label=gettext_lazy("Channel"),
        queryset=Channel.objects.order_by("code"),
        to_field_name="code",
        required=False,
        empty_label=gettext_lazy("All channels"),
    )


class MapItemForm(forms.Form):
    """One unmapped item (as the queue shows it) and what the agent typed or picked."""

    channel = forms.ModelChoiceField(queryset=Channel.objects.all(), to_field_name="code")
    platform_item_id = forms.CharField(max_length=64, required=False)
    platform_sku_id = forms.CharField(max_length=64, required=False)
    seller_code = forms.CharField(max_length=64, required=False)
    title = forms.CharField(max_length=255, required=False)
    sku = forms.CharField(label=gettext_lazy("SKU"), max_length=200)


def _item_key(row: dict) -> tuple:
    return (row["order__channel__code"], row["platform_item_id"], row["platform_sku_id"], row["seller_code"])


@login_required
@permission_required("inventory.view_itemmapping", raise_exception=True)
def unmapped_queue(request):
    filters = QueueFilterForm(request.GET or None)
    channel = filters.cleaned_data["channel"] if filters.is_valid() else None
    rows = unmapped_items(channel_id=channel.pk if channel else None)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    # After a search that matched several SKUs: that item's row offers them to pick from.
    choosing = (
        request.GET.get("channel_code", ""),
        request.GET.get("platform_item_id", ""),
        request.GET.get("platform_sku_id", ""),
        request.GET.get("seller_code", ""),
    )
    term = request.GET.get("term", "")
    candidates = sku_candidates(term) if term else []
    items = [
        {**row, "choices": candidates if _item_key(row) == choosing else [], "term": term} for row in page
    ]
    query = request.GET.copy()
    for name in ("page", "term", "channel_code", "platform_item_id", "platform_sku_id", "seller_code"):
        query.pop(name, None)
    return render(
        request,
        "inventory/unmapped_items.html",
        {
            "filters": filters,
            "page": page,
            "items": items,
            "query": query.urlencode(),
            "can_map": request.user.has_perm("inventory.add_itemmapping"),
        },
    )


@login_required
@permission_required("inventory.add_itemmapping", raise_exception=True)
def unmapped_sku_search(request):
    """SKUs for the queue's search box as the agent types (JSON, static/desk/behaviours.js)."""
    found = sku_candidates(request.GET.get("q", "")[:200])
    return JsonResponse({"results": [{"code": sku.code, "name": sku.name} for sku in found]})


@login_required
@require_POST
@permission_required("inventory.add_itemmapping", raise_exception=True)
def unmapped_map(request):
    form = MapItemForm(request.POST)
    back = reverse("inventory:unmapped")
    if request.POST.get("return_query"):
        back = f"{back}?{request.POST['return_query']}"
    if not form.is_valid():
        form_errors(request, form)
        return redirect(back)
    data = form.cleaned_data
    skus = sku_candidates(data["sku"])
    if not skus:
        messages.error(request, _("No active SKU matches “%(term)s”.") % {"term": data["sku"]})
        return redirect(back)
    if len(skus) > 1:
        messages.info(request, _("Several SKUs match “%(term)s”: pick one.") % {"term": data["sku"]})
        choose = {
            "channel_code": data["channel"].code,
            "platform_item_id": data["platform_item_id"],
            "platform_sku_id": data["platform_sku_id"],
            "seller_code": data["seller_code"],
            "term": data["sku"],
        }
        separator = "&" if "?" in back else "?"
        return redirect(f"{back}{separator}{urlencode(choose)}")
    try:
        outcome = item_map(
            channel=data["channel"],
            sku=skus[0],
            platform_item_id=data["platform_item_id"],
            platform_sku_id=data["platform_sku_id"],
            seller_code=data["seller_code"],
            title=data["title"],
            actor=request.user,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    text = _("%(item)s mapped to %(sku)s: %(released)s of %(orders)s waiting orders released.") % {
        "item": outcome.mapping.platform_name,
        "sku": skus[0].code,
        "released": len(outcome.released),
        "orders": len(outcome.orders),
    }
    if outcome.held:
        text += " " + _("Still held (stock or another reason): %(numbers)s.") % {
            "numbers": ", ".join(outcome.held)
        }
    messages.success(request, text)
    return redirect(back)
