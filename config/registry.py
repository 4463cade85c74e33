"""Who handles what: every connection between Conduit's layers, in one module.

Lower layers never import higher ones (config/layers.py). Where a lower layer must set work in
motion above it, it declares a port (a small Protocol) or names a message kind, and this module
plugs the handler in once all apps are loaded (config.apps.ConduitConfig.ready). Nothing registers
itself by being imported: if it is not listed here, it is not wired.

Read it as a table of contents: a Kuaidi100 tracking push is processed by
integrations.carriers.services.tracking_message_process; "finance.refund.stripe" outbox messages
are delivered by returns.refunds.stripe.refund_via_stripe; cancelling an order stops its parcels
through fulfilment (OrdersFulfilment.stop_shipments).
"""

from importlib import import_module

from celery import signals as celery_signals

from core import outbox
from finance import callbacks as payment_callbacks
from finance.invoices import services as invoices
from finance.vouchers import push as voucher_push
from fulfilment import notifications, staff_alerts, warehouse_port
from fulfilment import waybills as fulfilment_waybills
from fulfilment.for_orders import OrdersFulfilment
from fulfilment.models import NotificationMedium
from integrations import adapters as webhook_adapters
from integrations import after_sales, stock_sync, writeback
from integrations import services as inbound
from integrations.amazon import AmazonAdapter
from integrations.carriers import services as carriers
from integrations.carriers import waybills as carrier_waybills
from integrations.douyin import DouyinAdapter
from integrations.douyin import push as douyin_push
from integrations.for_fulfilment import WarehouseIntegrations
from integrations.jd import JdAdapter
from integrations.pdd import PddAdapter
from integrations.pdd import messages as pdd_messages
from integrations.shopify import ShopifyAdapter
from integrations.taobao import TaobaoAdapter, tmc
from integrations.wms import base as wms
from integrations.wms.own import OwnWarehouse
from integrations.wms.qimen import QimenWarehouse
from integrations.wms.qimen import callbacks as qimen_callbacks
from integrations.wms.qimen import outbound as qimen_outbound
from integrations.wms.qimen import purchases as qimen_purchases
from integrations.wms.qimen import transfers as qimen_transfers
from integrations.woocommerce import WooCommerceAdapter
from integrations.xiaohongshu import XiaohongshuAdapter
from integrations.xiaohongshu import push as xiaohongshu_push
from inventory import stock_push
from inventory import transfers as stock_transfers
from inventory.models import WmsProtocol
from ops import task_outcomes
from orders import fulfilment_port
from purchasing import warehouse_systems as purchase_receiving
from returns import platform as returns_platform
from returns import platform_after_sales
from returns.models import RefundProvider
from returns.refunds import alipay, shopify, stripe, wechatpay
from returns.refunds.lifecycle import OUTBOX_KIND as REFUND_KIND

# Outbox message kind → the function that delivers it (core.outbox retries and dead-letters).
OUTBOX_HANDLERS = {
    notifications.KIND: notifications.notification_deliver,  # e-mail, SMS, WeCom to customers
    staff_alerts.KIND: staff_alerts.staff_alert_deliver,  # alerts to the staff's SMS / WeCom routes
    stock_sync.KIND: stock_sync.stock_push_deliver,  # channel stock to Shopify / WooCommerce / Taobao
    writeback.KIND: writeback.writeback_deliver,  # a parcel's carrier and tracking to its platform
    carriers.SUBSCRIBE: carriers.subscription_deliver,  # Kuaidi100 tracking subscription
    carriers.WAYBILL: carriers.waybill_deliver,  # Kuaidi100 e-waybill request (the desk button)
    fulfilment_waybills.KIND: carrier_waybills.waybill_deliver,  # e-waybill at release: Kuaidi100 / platform
    fulfilment_waybills.CANCEL_KIND: carrier_waybills.waybill_cancel_deliver,  # its number given back
    qimen_outbound.PUSH: qimen_outbound.deliveryorder_create,  # shipment to a Qimen cloud warehouse
    qimen_outbound.CANCEL: qimen_outbound.order_cancel,  # its cancellation
    qimen_transfers.STOCKOUT: qimen_transfers.stockout_create,  # transfer out of a Qimen warehouse (DBCK)
    qimen_transfers.ENTRYORDER: qimen_transfers.entryorder_create,  # transfer into one (DBRK)
    qimen_purchases.ENTRYORDER: qimen_purchases.entryorder_create,  # purchase order to one (CGRK)
    qimen_purchases.CANCEL: qimen_purchases.order_cancel,  # its cancellation
    REFUND_KIND.format(provider=RefundProvider.STRIPE): stripe.refund_via_stripe,
    REFUND_KIND.format(provider=RefundProvider.ALIPAY): alipay.refund_via_alipay,
    REFUND_KIND.format(provider=RefundProvider.SHOPIFY): shopify.refund_via_shopify,
    REFUND_KIND.format(provider=RefundProvider.WECHAT_PAY): wechatpay.refund_via_wechatpay,
    voucher_push.KIND: voucher_push.voucher_push_deliver,  # approved vouchers to Kingdee / Yonyou
    invoices.ISSUE_KIND: invoices.invoice_issue_deliver,  # e-invoice (数电发票) to Nuonuo
    invoices.REVERSE_KIND: invoices.invoice_reverse_deliver,  # its red-letter after a refund
}

# Payment providers' refund result notifications (finance.callbacks) → what settles the refund.
REFUND_NOTIFICATION_HANDLERS = {
    RefundProvider.WECHAT_PAY: wechatpay.refund_notification_apply,  # REFUND.SUCCESS / ABNORMAL / CLOSED
}

# Sales-platform webhooks (/integrations/webhooks/<platform>/<channel>/) and polling.
WEBHOOK_ADAPTERS = [
    ShopifyAdapter,
    WooCommerceAdapter,
    TaobaoAdapter,
    AmazonAdapter,
    PddAdapter,
    JdAdapter,
    DouyinAdapter,
    XiaohongshuAdapter,
]

# Inbound messages that are not sales orders: InboundMessage.platform → its processor (the
# failed queue's "replay" reaches them the same way).
MESSAGE_PROCESSORS = {
    carriers.PLATFORM: carriers.tracking_message_process,  # Kuaidi100 tracking push
    qimen_callbacks.PLATFORM: qimen_callbacks.qimen_callback_process,  # Qimen WMS callbacks
}

# Sales-platform messages that are not orders: (platform, topic) → processor.
TOPIC_PROCESSORS = {
    ("shopify", "refunds/create"): returns_platform.process_shopify_refund,  # after-sales → RMA
    # Taobao TMC trade / refund messages left for the sweeper: the trade read and ingested
    **{("taobao", topic): tmc.tmc_message_process for topic in tmc.TRADE_TOPICS},
    # polled after-sales requests (JD, Pinduoduo, Douyin, …) → RMAs (integrations.after_sales)
    **{
        (platform, after_sales.AFTER_SALE_TOPIC): platform_after_sales.process_platform_after_sale
        for platform in after_sales.AFTER_SALE_MAPPINGS
    },
}

# Push messages that only name orders: each order read from the platform and ingested in its own
# transaction, the processor itself running outside any (integrations.services).
NOTIFICATION_PROCESSORS = {
    ("douyin", "douyin.push"): douyin_push.push_message_process,  # each order named: orderDetail, ingested
    # Xiaohongshu push messages: each order named read with getOrderDetail, ingested
    ("xiaohongshu", "xiaohongshu.push"): xiaohongshu_push.push_message_process,
    # Pinduoduo message service (WebSocket, integrations/pdd/messages.py): the order named, ingested
    **{("pdd", topic): pdd_messages.message_process for topic in pdd_messages.TOPICS},
}

# Warehouse systems by Warehouse.wms_protocol.
WMS_ADAPTERS = [OwnWarehouse, QimenWarehouse]
# Warehouse systems that work their side of transfers between warehouses (inventory.transfers).
TRANSFER_SYSTEMS = {WmsProtocol.QIMEN: qimen_transfers.QimenTransfers()}
# Warehouse systems told about purchase orders and confirming their receipts (purchasing.warehouse_systems).
RECEIVING_SYSTEMS = {WmsProtocol.QIMEN: qimen_purchases.QimenPurchases()}

# Customer notification media → sender.
NOTIFICATION_SENDERS = {
    NotificationMedium.EMAIL: notifications.send_email,
    NotificationMedium.SMS: notifications.send_sms,
    NotificationMedium.WECOM: notifications.send_wecom,
}

# Told when a channel's sellable stock changes (inventory.stock_push).
STOCK_LISTENERS = [stock_sync.channel_stock_changed]  # queues pushes to Shopify / WooCommerce / Taobao

# Celery's task outcomes → per-minute counters (the retry and failure rates of ops/).
TASK_OUTCOME_COUNTERS = {
    celery_signals.task_success: task_outcomes.on_task_success,
    celery_signals.task_retry: task_outcomes.on_task_retry,
    celery_signals.task_failure: task_outcomes.on_task_failure,
}

# Celery task modules other than <app>/tasks.py (which Celery discovers by itself).
EXTRA_TASK_MODULES = [
    "fulfilment.watch_tasks",
    "integrations.carriers.tasks",
    "integrations.wms.tasks",
]


def install() -> None:
    # Ports: a lower layer's calls answered by the layer above it.
    fulfilment_port.plug(OrdersFulfilment())  # orders → fulfilment: route, stop parcels, "placed"
    # fulfilment → integrations: WMS push/cancel, tracking, shipment write-back to the platforms
    warehouse_port.plug(WarehouseIntegrations())
    for kind, handler in OUTBOX_HANDLERS.items():
        outbox.register_handler(kind)(handler)
    for provider, handler in REFUND_NOTIFICATION_HANDLERS.items():
        payment_callbacks.register_refund_handler(provider)(handler)
    for adapter in WEBHOOK_ADAPTERS:
        webhook_adapters.register(adapter)
    for platform, process in MESSAGE_PROCESSORS.items():
        inbound.register_message_processor(platform, process)
    for (platform, topic), process in TOPIC_PROCESSORS.items():
        inbound.register_topic_processor(platform, topic, process)
    for (platform, topic), process in NOTIFICATION_PROCESSORS.items():
        inbound.register_notification_processor(platform, topic, process)
    for adapter in WMS_ADAPTERS:
        wms.register(adapter)
    for protocol, system in TRANSFER_SYSTEMS.items():
        stock_transfers.register_transfer_system(protocol, system)
    for protocol, system in RECEIVING_SYSTEMS.items():
        purchase_receiving.register_receiving_system(protocol, system)
    for medium, sender in NOTIFICATION_SENDERS.items():
        notifications.register_sender(medium)(sender)
    for listener in STOCK_LISTENERS:
        stock_push.register_stock_listener(listener)
    for signal, counter in TASK_OUTCOME_COUNTERS.items():
        signal.connect(counter, weak=False, dispatch_uid=f"ops.{counter.__name__}")
    for module in EXTRA_TASK_MODULES:
        import_module(module)
