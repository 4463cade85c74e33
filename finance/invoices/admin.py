"""Admin for e-invoices: read-mostly; states change only through finance.invoices.services (the
retry action), never through a generic form."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from finance.invoices import services
from finance.invoices.models import InvoiceLine, InvoiceRefund, InvoiceRequest, InvoiceReversal


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    readonly_fields = ("index", "tax_rate", "amount", "net_amount", "tax_amount")

    def has_add_permission(self, request, obj=None):
        return False


class InvoiceReversalInline(admin.TabularInline):
    model = InvoiceReversal
    extra = 0
    can_delete = False
    fields = ("number", "full", "amount", "state", "invoice_number", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(InvoiceRequest)
class InvoiceRequestAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "order",
        "buyer_title",
        "invoice_type",
        "amount",
        "state",
        "invoice_number",
        "created_at",
    )
    list_filter = ("state", "invoice_type", "buyer_kind", "provider")
    search_fields = ("number", "order__number", "buyer_title", "buyer_tax_id", "invoice_number")
    readonly_fields = [field.name for field in InvoiceRequest._meta.fields]
    inlines = [InvoiceLineInline, InvoiceReversalInline]
    actions = ["retry"]

    def has_add_permission(self, request):
        return False  # requested from the order page (amounts come from the order)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Send failed invoices again"))
    def retry(self, request, queryset):
        for invoice in queryset.order_by("pk"):
            try:
                services.invoice_retry(request=invoice, actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"{invoice.number}: {exc.message}", messages.ERROR)


@admin.register(InvoiceRefund)
class InvoiceRefundAdmin(admin.ModelAdmin):
    list_display = ("key", "order", "amount", "shipping", "created_at")
    search_fields = ("key", "order__number")
    readonly_fields = ("order", "key", "amount", "lines", "shipping", "created_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
