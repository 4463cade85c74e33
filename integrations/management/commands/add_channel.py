import json
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from catalog.models import Platform
from integrations.credentials import CREDENTIAL_FIELDS, SHOP_FIELDS
from integrations.services import channel_create_or_update


def _keys(fields) -> str:
    return ", ".join(
        f"{field.key}{'*' if field.required else ''}{' (secret)' if field.secret else ''}" for field in fields
    )


def _credential_keys() -> str:
    lines = [f"  {platform}: {_keys(fields)}" for platform, fields in CREDENTIAL_FIELDS.items() if fields]
    lines.append(f"  every platform: {_keys(SHOP_FIELDS)}")
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Create or update a sales channel (the webhook secret and API credentials are stored, never "
        "printed). The API credentials file is a JSON object of the platform's keys (* required); "
        "on an update the keys given replace those stored, the others are kept:\n" + _credential_keys()
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        from argparse import RawDescriptionHelpFormatter

        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter  # keep the keys one platform a line
        return parser

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
        credentials = (
            f"set ({', '.join(sorted(channel.api_credentials))})" if channel.api_credentials else "not set"
        )
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
