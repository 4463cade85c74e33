from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from integrations.models import Platform
from integrations.services import channel_create_or_update


class Command(BaseCommand):
    help = "Create or update a sales channel (the webhook secret is stored, never printed)."

    def add_arguments(self, parser):
        parser.add_argument("--platform", required=True, choices=Platform.values)
        parser.add_argument("--code", required=True)
        parser.add_argument("--name")
        parser.add_argument("--time-zone", dest="time_zone")
        parser.add_argument("--currency")
        parser.add_argument("--webhook-secret", dest="webhook_secret")
        parser.add_argument("--reservation-ttl", dest="reservation_ttl_minutes", type=int)

    def handle(self, *args, **options):
        fields = {
            key: options[key]
            for key in ("name", "time_zone", "currency", "webhook_secret", "reservation_ttl_minutes")
        }
        try:
            channel, created = channel_create_or_update(
                code=options["code"], platform=options["platform"], **fields
            )
        except ValidationError as exc:
            messages = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.message_dict.items())
            raise CommandError(messages) from exc
        verb = "created" if created else "updated"
        secret = "set" if channel.webhook_secret else "not set"
        self.stdout.write(
            f"Channel {channel.code} {verb}: platform={channel.platform} time_zone={channel.time_zone} "
            f"currency={channel.currency} webhook secret {secret}."
        )
