"""Uploads kept in the database: the default storage unless S3 is configured (settings.STORAGES).

A statement or return photo uploaded through one web machine is read by a worker on another, with
no shared disk. Files are split in chunks (StoredFile / StoredFileChunk) that are written and read
one at a time, so a 60 MB statement never sits whole in memory on its way in or out. A file saved
inside a transaction that rolls back is gone with it: no orphan is left behind.
"""

import io

from django.core.files.base import File
from django.core.files.storage import Storage
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.urls import reverse
from django.utils.deconstruct import deconstructible

CHUNK_SIZE = 1024 * 1024
READ_MODES = {"r", "rb", "br"}


@deconstructible(path="core.storage.DatabaseStorage")
class DatabaseStorage(Storage):
    def __init__(self, chunk_size: int = CHUNK_SIZE, using: str = DEFAULT_DB_ALIAS):
        # Always the primary: a worker must find the file the moment the upload's transaction commits.
        self.chunk_size = chunk_size
        self.using = using

    def _files(self):
        from core.models import StoredFile

        return StoredFile.objects.using(self.using)

    def _save(self, name, content):
        from core.models import StoredFileChunk

        with transaction.atomic(using=self.using):
            while True:
                try:
                    with transaction.atomic(using=self.using):
                        stored = self._files().create(name=name, chunk_size=self.chunk_size)
                    break
                except IntegrityError:  # another upload took the name after get_available_name
                    name = self.get_available_name(name)
            size = 0
            for number, piece in enumerate(_pieces(content, self.chunk_size)):
                StoredFileChunk.objects.using(self.using).create(file=stored, number=number, data=piece)
                size += len(piece)
            self._files().filter(pk=stored.pk).update(size=size)
        return name

    def _open(self, name, mode="rb"):
        if mode not in READ_MODES:
            raise ValueError(f"Stored files open for reading only, not {mode!r}.")
        row = self._files().filter(name=name).values_list("pk", "size", "chunk_size").first()
        if row is None:
            raise FileNotFoundError(name)
        file_id, size, chunk_size = row
        reader = ChunkReader(self.using, file_id, size, chunk_size)
        handle = io.BufferedReader(reader, buffer_size=min(chunk_size, io.DEFAULT_BUFFER_SIZE * 8))
        stream = handle if "b" in mode else io.TextIOWrapper(handle, encoding="utf-8")
        opened = File(stream, name)
        opened.size = size
        return opened

    def delete(self, name):
        self._files().filter(name=name).delete()

    def exists(self, name):
        return self._files().filter(name=name).exists()

    def size(self, name):
        size = self._files().filter(name=name).values_list("size", flat=True).first()
        if size is None:
            raise FileNotFoundError(name)
        return size

    def listdir(self, path):
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        directories, files = set(), []
        for name in self._files().filter(name__startswith=prefix).values_list("name", flat=True):
            head, _slash, tail = name[len(prefix) :].partition("/")
            if tail:
                directories.add(head)
            else:
                files.append(head)
        return sorted(directories), sorted(files)

    def get_created_time(self, name):
        created = self._files().filter(name=name).values_list("created_at", flat=True).first()
        if created is None:
            raise FileNotFoundError(name)
        return created

    get_modified_time = get_created_time  # stored files are never rewritten

    def url(self, name):
        # Not public: the owning screen serves a file with its own permission check (a return's
        # attachment view); this link, shown by the admin, is for superusers only.
        return reverse("stored-file", args=[name])


def _pieces(content, size: int):
    """The content's bytes in pieces of exactly `size` (the last one shorter)."""
    pending = bytearray()
    for block in content.chunks(size):
        pending += block.encode() if isinstance(block, str) else block
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


class ChunkReader(io.RawIOBase):
    """A stored file as a seekable stream that fetches one chunk at a time when it is read."""

    def __init__(self, using: str, file_id: int, size: int, chunk_size: int):
        super().__init__()
        self._using, self._file_id = using, file_id
        self._size, self._chunk_size = size, chunk_size
        self._position = 0
        self._number, self._chunk = None, b""

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer):
        if self._position >= self._size:
            return 0
        number, start = divmod(self._position, self._chunk_size)
        if number != self._number:
            self._chunk, self._number = self._fetch(number), number
        piece = self._chunk[start : start + len(buffer)]
        buffer[: len(piece)] = piece
        self._position += len(piece)
        return len(piece)

    def _fetch(self, number: int) -> bytes:
        from core.models import StoredFileChunk

        data = (
            StoredFileChunk.objects.using(self._using)
            .filter(file_id=self._file_id, number=number)
            .values_list("data", flat=True)
            .first()
        )
        if data is None:
            raise FileNotFoundError(f"stored file {self._file_id} has no chunk {number} (deleted meanwhile?)")
        return bytes(data)
