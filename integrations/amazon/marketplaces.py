"""Amazon marketplaces: where each one's SP-API endpoint is, its currency, and whether its prices
include tax.

- Marketplace ids and their regions: "Marketplace IDs"
  (https://developer-docs.amazon.com/sp-api/docs/marketplace-ids: North America, Europe, Far East).
- Endpoint per region: "SP-API Endpoints"
  (https://developer-docs.amazon.com/sp-api/docs/sp-api-endpoints), the same hosts as the official
  Python client's `region_to_endpoint` (selling-partner-api-models
  `clients/sellingpartner-api-aa-python/spapi/spapiclient.py`).
- Tax: in the United States and Canada the price a buyer sees excludes sales tax, which is added
  at checkout: getOrderItems states `ItemTax` beside an `ItemPrice` without it (the Orders v0
  sandbox order 902-1845936-5435065: ItemPrice 10.00 + ItemTax 1.01 = OrderTotal 11.01,
  `models/orders-api-model/ordersV0.json`). Everywhere else Amazon shows VAT/GST/consumption-tax
  inclusive prices and `ItemPrice` already includes the tax ("actually it is the total including
  tax", amzn/selling-partner-api-models#4858, an EU marketplace). An order whose stated
  `OrderTotal` disagrees with the total worked out on that basis is held by the intake's
  paid-amount check, never stored silently wrong.

A channel is one marketplace (`api_credentials["marketplace_id"]`); its time zone and currency
are the channel's own settings (Channel.time_zone, Channel.currency). Amazon writes every
timestamp in UTC with a `Z`, so the channel's zone only names the marketplace's day."""

from dataclasses import dataclass

ENDPOINTS = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}


@dataclass(frozen=True)
class Marketplace:
    marketplace_id: str
    country: str  # Amazon's country code (the UK is "UK" there, "GB" in addresses)
    region: str  # key of ENDPOINTS
    currency: str  # ISO 4217
    tax_included: bool  # prices (ItemPrice, ShippingPrice…) include tax


_TABLE = [
    # North America
    ("A2EUQ1WTGCTBG2", "CA", "na", "CAD", False),
    ("ATVPDKIKX0DER", "US", "na", "USD", False),
    ("A1AM78C64UM0Y8", "MX", "na", "MXN", True),
    ("A2Q3Y263D00KWC", "BR", "na", "BRL", True),
    # Europe
    ("A28R8C7NBKEWEA", "IE", "eu", "EUR", True),
    ("A1RKKUPIHCS9HS", "ES", "eu", "EUR", True),
    ("A1F83G8C2ARO7P", "UK", "eu", "GBP", True),
    ("A13V1IB3VIYZZH", "FR", "eu", "EUR", True),
    ("AMEN7PMS3EDWL", "BE", "eu", "EUR", True),
    ("A1805IZSGTT6HS", "NL", "eu", "EUR", True),
    ("A1PA6795UKMFR9", "DE", "eu", "EUR", True),
    ("APJ6JRA9NG5V4", "IT", "eu", "EUR", True),
    ("A2NODRKZP88ZB9", "SE", "eu", "SEK", True),
    ("AE08WJ6YKNBMC", "ZA", "eu", "ZAR", True),
    ("A1C3SOZRARQ6R3", "PL", "eu", "PLN", True),
    ("ARBP9OOSHTCHU", "EG", "eu", "EGP", True),
    ("A33AVAJ2PDY3EV", "TR", "eu", "TRY", True),
    ("A17E79C6D8DWNP", "SA", "eu", "SAR", True),
    ("A2VIGQ35RCS4UG", "AE", "eu", "AED", True),
    ("A21TJRUUN4KGV", "IN", "eu", "INR", True),
    # Far East
    ("A19VAU5U5O7RUS", "SG", "fe", "SGD", True),
    ("A39IBJ37TRP1C6", "AU", "fe", "AUD", True),
    ("A1VC38T7YXB528", "JP", "fe", "JPY", True),
]

MARKETPLACES = {row[0]: Marketplace(*row) for row in _TABLE}


def marketplace(marketplace_id: str) -> Marketplace:
    """The marketplace of that id; LookupError for an id Amazon does not list."""
    try:
        return MARKETPLACES[marketplace_id]
    except KeyError:
        raise LookupError(f"unknown Amazon marketplace id {marketplace_id!r}") from None
