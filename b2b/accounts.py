"""Business accounts. The account's orders.Customer is found or made with the identity key the
order intake uses for its contact (phone, else e-mail), so the intake puts every delivery order
on that very customer."""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from b2b.models import B2BAccount
from core.errors import DomainError
from orders.building import customer_identity
from orders.models import Customer


def account_identity(account: B2BAccount) -> tuple[str, dict]:
    identity = customer_identity(
        {
            "customer": {
                "name": account.name,
                "phone": account.contact_phone,
                "email": account.contact_email,
            },
            "shipping_address": {"country": account.ship_country},
        }
    )
    if identity is None:
        raise DomainError(
            _("Give the account a valid phone number or e-mail address."), field="contact_phone"
        )
    return identity


def account_save(account: B2BAccount) -> B2BAccount:
    """Create or update an account, linking it to its customer row."""
    key, values = account_identity(account)
    with transaction.atomic():
        customer, _created = Customer.objects.get_or_create(identity_key=key, defaults=values)
        account.customer = customer
        try:
            with transaction.atomic():
                account.save()
        except IntegrityError as exc:
            raise DomainError(
                _("An account with code %(code)s, or for customer %(customer)s, exists already.")
                % {"code": account.code, "customer": customer},
                field="code",
            ) from exc
    return account
