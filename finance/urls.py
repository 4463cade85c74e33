from django.urls import path
from django.views.generic import RedirectView

from finance import webhooks
from finance.desk import imports, invoices, reconciliation, reports, views, vouchers

app_name = "finance"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="finance:payments"), name="home"),
    path("payments/", views.payment_list, name="payments"),
    path("callbacks/", views.callback_list, name="callbacks"),
    path("callbacks/<int:pk>/replay/", views.callback_replay, name="callback-replay"),
    path("periods/", views.period_list, name="periods"),
    path("periods/close/", views.period_close_view, name="period-close"),
    path("imports/", imports.import_list, name="imports"),
    path("imports/sample/<slug:layout>/", imports.import_sample, name="import-sample"),
    path("imports/<int:pk>/", imports.import_detail, name="import-detail"),
    path("imports/<int:pk>/progress/", imports.import_progress, name="import-progress"),
    path("imports/<int:pk>/confirm/", imports.import_confirm_view, name="import-confirm"),
    path("imports/<int:pk>/retry/", imports.import_retry_view, name="import-retry"),
    path("imports/<int:pk>/errors/", imports.import_errors, name="import-errors"),
    path("statements/", reports.statement_list, name="statements"),
    path("reconciliation/", reconciliation.run_list, name="reconciliation"),
    path("reconciliation/start/", reconciliation.run_start, name="reconciliation-start"),
    path("reconciliation/<int:pk>/", reconciliation.run_matrix, name="reconciliation-run"),
    path("reconciliation/<int:pk>/retry/", reconciliation.run_retry, name="reconciliation-retry"),
    path(
        "reconciliation/items/<int:pk>/resolve/", reconciliation.item_resolve, name="reconciliation-resolve"
    ),
    path("reconciliation/candidates/", reconciliation.candidate_list, name="candidates"),
    path("reconciliation/candidates/<int:pk>/", reconciliation.candidate_decide, name="candidate-decide"),
    path("reports/daily-sales/", reports.daily_sales, name="report-daily"),
    path("reports/receivables/", reports.receivables_payables, name="report-receivables"),
    path("reports/refund-differences/", reports.refund_differences, name="report-refunds"),
    path("vouchers/", vouchers.voucher_list, name="vouchers"),
    path("vouchers/prepare/", vouchers.voucher_prepare_view, name="voucher-prepare"),
    path("vouchers/<int:pk>/", vouchers.voucher_detail, name="voucher-detail"),
    path(
        "vouchers/<int:pk>/approve/", vouchers.voucher_decide, {"decision": "approve"}, name="voucher-approve"
    ),
    path("vouchers/<int:pk>/reject/", vouchers.voucher_decide, {"decision": "reject"}, name="voucher-reject"),
    path("vouchers/<int:pk>/download/", vouchers.voucher_download, name="voucher-download"),
    path("vouchers/<int:pk>/push/", vouchers.voucher_push_view, name="voucher-push"),
    path("invoices/", invoices.invoice_queue, name="invoices"),
    path("invoices/order/<int:order_pk>/", invoices.invoice_request_view, name="invoice-request"),
    path("invoices/<int:pk>/retry/", invoices.invoice_retry_view, name="invoice-retry"),
    path("invoices/red/<int:pk>/retry/", invoices.reversal_retry_view, name="reversal-retry"),
    path("webhooks/stripe/", webhooks.stripe_webhook, name="webhook-stripe"),
    path("webhooks/alipay/", webhooks.alipay_webhook, name="webhook-alipay"),
    path("webhooks/wechatpay/", webhooks.wechatpay_webhook, name="webhook-wechatpay"),
    path("webhooks/unionpay/", webhooks.unionpay_webhook, name="webhook-unionpay"),
]
