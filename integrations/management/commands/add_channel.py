import json
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from catalog.models import Platform
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
        parser.add_argument(
            "--api-credentials-file",
            dest="api_credentials_file",
            help="JSON object with the platform API credentials ('-' reads standard input); never printed",
        )

    def handle(self, *args, **options):
        fields = {
            key: options[key]
            for key in ("name", "time_zone", "currency", "webhook_secret", "reservation_ttl_minutes")
        }
        if options["api_credentials_file"]:
            fields["api_credentials"] = _read_credentials(options["api_credentials_file"])
        try:
            channel, created = channel_create_or_update(
                code=options["code"], platform=options["platform"], **fields
            )
        except ValidationError as exc:
            messages = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.message_dict.items())
            raise CommandError(messages) from exc
        verb = "created" if created else "updated"
        secret = "set" if channel.webhook_secret else "not set"
        credentials = "set" if channel.api_credentials else "not set"
        self.stdout.write(
            f"Channel {channel.code} {verb}: platform={channel.platform} time_zone={channel.time_zone} "
            f"currency={channel.currency} webhook secret {secret}, API credentials {credentials}."
        )


def _read_credentials(path: str) -> dict:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        credentials = json.loads(text)
    except (OSError, ValueError) as exc:
        raise CommandError(f"api credentials: {exc.__class__.__name__}") from exc
    if not isinstance(credentials, dict):
        raise CommandError("api credentials: expected a JSON object")
    return credentials
