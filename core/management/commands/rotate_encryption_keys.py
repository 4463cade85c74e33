from django.apps import apps
from django.core.management.base import BaseCommand

from core.encrypted_fields import reencrypt_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS (plaintext left "
        "from before encryption too). Run it after putting a new key first; drop the old key after."
    )

    def handle(self, *args, **options):
        written = reencrypt_all(apps.get_models())
        for label, count in written.items():
            self.stdout.write(f"{label}: {count} row(s) re-encrypted.")
        self.stdout.write(
            self.style.SUCCESS(f"Done: {sum(written.values())} row(s) in {len(written)} model(s).")
        )
