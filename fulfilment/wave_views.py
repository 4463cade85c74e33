"""Wave screens for a handheld (360–412 px wide): the waves, one wave's pick list by bin path
with its print buttons, the pick walk, packing with weight, hand-over and the courier pickup.
Every scan box is a plain form with one autofocused text input, so a keyboard-wedge scanner
(types the code, then Enter) drives them with no script. Thin views over fulfilment.waves."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors
from core.errors import DomainError
from fulfilment import waves
from fulfilment.models import ShipmentStatus, Wave, WaveState
from inventory.models import Warehouse, WmsProtocol

VIEW = "orders.view_shipment"
WORK = waves.WORK


def _wave_or_404(number: str) -> Wave:
    try:
        return Wave.objects.select_related("warehouse", "carrier", "created_by").get(number=number)
    except Wave.DoesNotExist as exc:
        raise Http404(number) from exc


def _to(name: str, wave: Wave, **query) -> str:
    url = reverse(f"fulfilment:{name}", args=[wave.number])
    query = {key: value for key, value in query.items() if value}
    return f"{url}?{urlencode(query)}" if query else url


def _unpacked(shipments) -> int:
    """Parcels a hand-over now would leave out of the wave (asked about before it goes ahead)."""
    return sum(s.status in (ShipmentStatus.SENT_TO_WAREHOUSE, ShipmentStatus.PICKING) for s in shipments)


class CreateWavesForm(forms.Form):
    warehouse = forms.ModelChoiceField(
        label=gettext_lazy("Warehouse"),
        queryset=Warehouse.objects.filter(is_active=True, wms_protocol=WmsProtocol.OWN).order_by("code"),
        to_field_name="code",
    )


@login_required
@permission_required(VIEW, raise_exception=True)
def wave_list(request):
    working = (
        Wave.objects.exclude(state=WaveState.HANDED_OVER)
        .select_related("warehouse", "carrier")
        .annotate(parcels=Count("members"))
    )
    done = Wave.objects.filter(state=WaveState.HANDED_OVER).select_related("warehouse", "carrier")[:20]
    return render(
        request,
        "fulfilment/wave_list.html",
        {
            "working": working.order_by("created_at", "pk"),
            "done": done,
            "form": CreateWavesForm(),
            "can_work": request.user.has_perm(WORK),
        },
    )


@login_required
@require_POST
@permission_required(WORK, raise_exception=True)
def wave_create(request):
    form = CreateWavesForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("fulfilment:waves")
    try:
        made = waves.waves_create(warehouse=form.cleaned_data["warehouse"], actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("fulfilment:waves")
    if not made:
        messages.info(request, _("No shipments are waiting for a wave."))
        return redirect("fulfilment:waves")
    messages.success(
        request,
        _("Created %(count)s wave(s): %(numbers)s.")
        % {"count": len(made), "numbers": ", ".join(wave.number for wave in made)},
    )
    return redirect(_to("wave", made[0])) if len(made) == 1 else redirect("fulfilment:waves")


@login_required
@permission_required(VIEW, raise_exception=True)
def wave_detail(request, number):
    wave = _wave_or_404(number)
    shipments = waves.wave_shipments(wave)
    left_out = dict(wave.members.exclude(left_out="").values_list("shipment_id", "left_out"))
    for shipment in shipments:
        shipment.left_out = left_out.get(shipment.pk, "")
    lines = waves.wave_pick_list(wave)
    return render(
        request,
        "fulfilment/wave_detail.html",
        {
            "wave": wave,
            "shipments": shipments,
            "lines": lines,
            "picked": sum(line.pick.picked for line in lines),
            "to_pick": sum(line.pick.quantity for line in lines),
            "can_work": request.user.has_perm(WORK),
            "printable": [s.number for s in shipments if s.status != ShipmentStatus.CANCELLED],
            "unpacked": _unpacked(shipments),
        },
    )


@login_required
@require_POST
@permission_required(WORK, raise_exception=True)
def wave_start(request, number):
    wave = _wave_or_404(number)
    try:
        wave, problems = waves.wave_start_picking(wave=wave, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(_to("wave", wave))
    for problem in problems:
        messages.warning(request, problem)
    return redirect(_to("wave-pick", wave))


# --- the pick walk ------------------------------------------------------------------------------


@login_required
@permission_required(VIEW, raise_exception=True)
def wave_pick(request, number):
    wave = _wave_or_404(number)
    at_bin = request.GET.get("bin", "").strip()
    lines = waves.wave_pick_list(wave)
    return render(
        request,
        "fulfilment/wave_pick.html",
        {
            "wave": wave,
            "at_bin": at_bin,
            "next": waves.wave_next_pick(wave),
            "lines": lines,
            "here": [
                line for line in lines if line.pick.bin and line.pick.bin.code.upper() == at_bin.upper()
            ],
            "can_work": request.user.has_perm(WORK) and wave.state == WaveState.PICKING,
        },
    )


@login_required
@require_POST
@permission_required(WORK, raise_exception=True)
def wave_pick_scan(request, number):
    wave = _wave_or_404(number)
    at_bin = request.POST.get("bin", "").strip()
    try:
        scan = waves.wave_pick_scan(
            wave=wave, code=request.POST.get("code", ""), at_bin=at_bin, actor=request.user
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(_to("wave-pick", wave, bin=at_bin))
    if scan.pick is None:
        messages.info(request, _("At bin %(bin)s: scan the items.") % {"bin": scan.bin.code})
    else:
        messages.success(
            request,
            _("Picked %(picked)s of %(quantity)s × %(sku)s.")
            % {"picked": scan.pick.picked, "quantity": scan.pick.quantity, "sku": scan.pick.sku.code},
        )
        if scan.bin_record_short:
            messages.warning(
                request,
                _("Bin %(bin)s had no %(sku)s on record: count the bin.")
                % {"bin": scan.bin.code, "sku": scan.pick.sku.code},
            )
    if scan.wave_picked:
        messages.success(request, _("Every item of the wave is picked: pack the parcels."))
        return redirect(_to("wave-pack", wave))
    return redirect(_to("wave-pick", wave, bin=scan.bin.code if scan.bin else ""))


# --- packing with weight ----------------------------------------------------------------------------


class WeightForm(forms.Form):
    weight = forms.CharField(label=gettext_lazy("Weight"), max_length=12)
    unit = forms.ChoiceField(label=gettext_lazy("Unit"), choices=[("kg", "kg"), ("g", "g")])


@login_required
@permission_required(VIEW, raise_exception=True)
def wave_pack(request, number):
    wave = _wave_or_404(number)
    shipments = waves.wave_shipments(wave, active_only=wave.state != WaveState.HANDED_OVER)
    chosen = request.GET.get("shipment", "").strip()
    current = next((s for s in shipments if s.number == chosen), None)
    if current is None:  # the next parcel still to pack or weigh
        current = next(
            (
                s
                for s in shipments
                if s.status in (ShipmentStatus.SENT_TO_WAREHOUSE, ShipmentStatus.PICKING)
                or (s.status == ShipmentStatus.PACKED and not s.weight_grams)
            ),
            None,
        )
    can_work = request.user.has_perm(WORK) and wave.state in (WaveState.PICKING, WaveState.PACKED)
    return render(
        request,
        "fulfilment/wave_pack.html",
        {
            "wave": wave,
            "shipments": shipments,
            "current": current,
            "lines": current.lines.select_related("sku").order_by("pk") if current else [],
            "can_scan": can_work and current is not None and current.status in waves.packing.PACKABLE,
            "can_weigh": can_work and current is not None and current.status == ShipmentStatus.PACKED,
            "can_hand_over": can_work
            and any(s.status == ShipmentStatus.PACKED and s.weight_grams for s in shipments),
            "unpacked": _unpacked(shipments),
        },
    )


@login_required
@require_POST
@permission_required(WORK, raise_exception=True)
def wave_pack_scan(request, number):
    wave = _wave_or_404(number)
    shipment = request.POST.get("shipment", "").strip()
    try:
        scan = waves.wave_pack_scan(
            wave=wave, shipment_number=shipment, code=request.POST.get("code", ""), actor=request.user
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(_to("wave-pack", wave, shipment=shipment))
    messages.success(
        request,
        _("Packed %(packed)s of %(quantity)s × %(sku)s.")
        % {"packed": scan.packed, "quantity": scan.quantity, "sku": scan.sku.code},
    )
    if scan.shipment_packed:
        messages.success(request, _("Shipment %(number)s is packed: weigh it.") % {"number": shipment})
    return redirect(_to("wave-pack", wave, shipment=shipment))


@login_required
@require_POST
@permission_required(WORK, raise_exception=True)
def wave_weigh(request, number):
    wave = _wave_or_404(number)
    shipment = request.POST.get("shipment", "").strip()
    form = WeightForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect(_to("wave-pack", wave, shipment=shipment))
    try:
        weighed = waves.wave_record_weight(
            wave=wave,
            shipment_number=shipment,
            weight=form.cleaned_data["weight"],
            unit=form.cleaned_data["unit"],
            actor=request.user,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(_to("wave-pack", wave, shipment=shipment))
    messages.success(
        request,
        _("%(number)s weighs %(grams)s g.") % {"number": weighed.number, "grams": weighed.weight_grams},
    )
    return redirect(_to("wave-pack", wave))  # on to the next parcel


# --- hand-over and pickup ------------------------------------------------------------------------------


@login_required
@require_POST
@permission_required(WORK, raise_exception=True)
def wave_hand_over(request, number):
    wave = _wave_or_404(number)
    try:
        outcome = waves.wave_hand_over(wave=wave, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(_to("wave", wave))
    if outcome.shipped:
        messages.success(
            request,
            _("Handed over %(count)s parcel(s): %(parcels)s.")
            % {
                "count": len(outcome.shipped),
                "parcels": ", ".join(f"{number} {tracking}" for number, tracking in outcome.shipped),
            },
        )
    for problem in outcome.problems:
        messages.error(request, problem)
    if outcome.left_out:
        messages.warning(
            request,
            _("Left out of the wave, back in the shipment queue: %(numbers)s.")
            % {"numbers": ", ".join(outcome.left_out)},
        )
    if outcome.wave.state == WaveState.HANDED_OVER:
        messages.success(request, _("Wave %(number)s is handed over.") % {"number": wave.number})
    return redirect(_to("wave", wave))


@login_required
@require_POST
@permission_required(WORK, raise_exception=True)
def wave_pickup(request, number):
    wave = _wave_or_404(number)
    try:
        wave = waves.wave_record_pickup(
            wave=wave, reference=request.POST.get("reference", ""), actor=request.user
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Pickup booked: %(reference)s.") % {"reference": wave.pickup_reference})
    return redirect(_to("wave", wave))
