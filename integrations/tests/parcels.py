"""Steps the platform write-back tests share (test_douyin, test_xiaohongshu): a polled order's
parcels, shipping one through the real shipment services, and the write-back row it made. The
fulfilment imports are made inside the helpers, as the tests using them do."""


def live_parcels(order) -> list:
    """The order's shipments that are not cancelled, in the order fulfilment lists them."""
    from fulfilment import selectors as fulfilment_selectors
    from fulfilment.models import ShipmentStatus

    return [s for s in fulfilment_selectors.order_shipments(order) if s.status != ShipmentStatus.CANCELLED]


def ship(capture, shipment, carrier, number: str):
    """The warehouse hands the parcel to the carrier (the real shipment services); the write-back
    the shipment enqueues is delivered on commit."""
    from fulfilment.models import ShipmentStatus
    from fulfilment.services import shipment_transition

    with capture(execute=True):
        if shipment.status == ShipmentStatus.CREATED:
            shipment = shipment_transition(shipment=shipment, name="send_to_warehouse")
        if shipment.status in (ShipmentStatus.SENT_TO_WAREHOUSE, ShipmentStatus.PICKING):
            shipment = shipment_transition(shipment=shipment, name="pack")
        shipment_transition(
            shipment=shipment, name="ship", args={"carrier": carrier, "tracking_number": number}
        )


def write_back_of(shipment):
    from integrations.models import ShipmentWriteBack

    return ShipmentWriteBack.objects.get(shipment=shipment)
