"""Carriers and the tracking aggregator (Kuaidi100): the public API the fulfilment code calls.

- `subscribe_tracking(shipment)`: inside the "ship" transaction; enqueues the tracking subscription.
- `request_waybill(shipment)`: enqueues an electronic-waybill request; the tracking number and
  label land on the shipment, a refusal in `shipment.problem`.
- `tracking_push_receive` / `tracking_message_process` the push path (replayed with
  integrations.services.inbound_message_replay).
- `tracking_poll_due()`: the beat's safety net for missed pushes.
"""

from integrations.carriers.services import (
    Outcome,
    get_adapter,
    request_waybill,
    subscribe_tracking,
    tracking_message_process,
    tracking_poll_due,
    tracking_push_receive,
)

__all__ = [
    "Outcome",
    "get_adapter",
    "request_waybill",
    "subscribe_tracking",
    "tracking_message_process",
    "tracking_poll_due",
    "tracking_push_receive",
]
