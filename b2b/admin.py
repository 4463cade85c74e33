"""Master data of B2B: accounts (saved through b2b.accounts, which links the customer row), price
lists with their tiers, approval rules. Contracts are read here and worked in the desk: their
state changes only through the services."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from b2b.accounts import account_identity, account_save
from b2b.models import (
    ApprovalRule,
    B2BAccount,
    Contract,
    ContractEvent,
    ContractLine,
    Delivery,
    PriceList,
    PriceListItem,
)
from core.errors import DomainError


class PriceListItemInline(admin.TabularInline):
    model = PriceListItem
    extra = 1
    autocomplete_fields = ["sku"]


@admin.register(PriceList)
class PriceListAdmin(admin.ModelAdmin):
    list_display = ["name", "currency", "is_active"]
    inlines = [PriceListItemInline]


class B2BAccountForm(forms.ModelForm):
    """The contact must identify a customer (the intake's key): said on the field, not a 500."""

    def clean(self):
        data = super().clean()
        contact = {
            name: data.get(name) or "" for name in ("name", "contact_phone", "contact_email", "ship_country")
        }
        try:
            key, _values = account_identity(B2BAccount(**contact))
        except DomainError as exc:
            raise ValidationError({exc.field: exc.message}) from exc
        taken = B2BAccount.objects.filter(customer__identity_key=key).exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError({"contact_phone": _("This contact's customer already has a B2B account.")})
        return data


@admin.register(B2BAccount)
class B2BAccountAdmin(admin.ModelAdmin):
    form = B2BAccountForm
    list_display = [
        "name",
        "code",
        "currency",
        "credit_limit",
        "payment_terms_days",
        "price_list",
        "is_active",
    ]
    search_fields = ["name", "code", "contact_phone", "contact_email"]
    readonly_fields = ["customer"]

    def save_model(self, request, obj, form, change):
        account_save(obj)


@admin.register(ApprovalRule)
class ApprovalRuleAdmin(admin.ModelAdmin):
    list_display = ["currency", "min_amount", "tier"]


class ContractLineInline(admin.TabularInline):
    model = ContractLine
    extra = 0
    can_delete = False
    readonly_fields = ["line_no", "sku", "quantity", "unit_price", "list_price", "made_to_order", "ready_on"]

    def has_add_permission(self, request, obj=None):
        return False


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    readonly_fields = ["seq", "due_on", "status", "order", "released_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    list_display = ["number", "account", "status", "currency", "amount", "created_at"]
    list_filter = ["status"]
    search_fields = ["number", "account__name"]
    inlines = [ContractLineInline, DeliveryInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Contract._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ContractEvent)
class ContractEventAdmin(admin.ModelAdmin):
    list_display = ["contract", "code", "actor", "created_at"]
    list_filter = ["code"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ContractEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
