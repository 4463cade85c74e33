"""What a carrier (or tracking aggregator) adapter offers the fulfilment code.

Adapters are HTTP and mapping only: they never write to the database. The outbox handlers and
tasks in integrations.carriers call them with no transaction or lock held and hand the results to
the services in fulfilment.tracking."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from fulfilment.tracking import TrackingUpdate


class CarrierRefused(Exception):  # noqa: N818 - the carrier's answer, not our failure
    """The carrier answered and said no (bad account, bad address…): retrying cannot help."""


@dataclass(frozen=True)
class Waybill:
    tracking_number: str
    label: str = ""  # a printable label (URL or document) when the carrier returns one
    details: dict = field(default_factory=dict)  # what else the carrier returned worth keeping


@dataclass(frozen=True)
class TrackingPush:
    """One parsed push: which parcel, its scans, and the aggregator's monitoring state."""

    company: str
    tracking_number: str
    events: list[TrackingUpdate]
    monitoring: str = ""  # e.g. Kuaidi100 "polling", "shutdown", "abort"
    message: str = ""
    other_companies: tuple[str, ...] = ()  # codes the aggregator also used for this parcel


class CarrierAdapter(ABC):
    code = ""

    @abstractmethod
    def request_waybill(self, shipment, carrier) -> Waybill:
        """Issue an electronic waybill of `carrier` for the shipment; CarrierRefused when it says no,
        core.http.PlatformError / RateLimited when it could not be asked."""

    @abstractmethod
    def subscribe(self, *, company: str, tracking_number: str, phone: str = "") -> None:
        """Ask for pushes of the parcel's scans."""

    @abstractmethod
    def poll(self, *, company: str, tracking_number: str, phone: str = "") -> list[TrackingUpdate]:
        """Every scan the carrier has for the parcel now (empty when it has none yet)."""

    @abstractmethod
    def verify_push(self, form: dict) -> bool:
        """Whether a push carries a valid signature (constant-time comparison)."""

    @abstractmethod
    def parse_push(self, form: dict) -> TrackingPush:
        """The parcel and scans of a verified push; ValueError naming the field when malformed."""
