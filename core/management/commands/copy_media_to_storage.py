from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Copy files kept on the local disk (MEDIA_ROOT) before uploads moved to the default storage "
        "(the database, or S3) into it under the same names, so old return photos and statements "
        "open again. Files already in the storage are left alone; safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", default=settings.MEDIA_ROOT, help="Folder to copy from (MEDIA_ROOT).")

    def handle(self, *args, source, **options):
        root = Path(source)
        copied = skipped = 0
        for path in sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []:
            name = path.relative_to(root).as_posix()
            if default_storage.exists(name):
                skipped += 1
                continue
            with path.open("rb") as handle:
                saved = default_storage.save(name, File(handle))
            if saved != name:  # a storage that renames would break the rows that refer to `name`
                default_storage.delete(saved)
                raise RuntimeError(f"The storage saved {name} as {saved}; nothing refers to that name.")
            copied += 1
        self.stdout.write(self.style.SUCCESS(f"{copied} file(s) copied, {skipped} already there."))
