"""Uploads kept in the database (core.storage.DatabaseStorage), Django's default storage unless S3
is configured: what one machine saved, any other reads, a chunk at a time."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config.settings.base import upload_storage
from core.models import StoredFile, StoredFileChunk
from core.storage import DatabaseStorage

pytestmark = pytest.mark.django_db

# 2.5 chunks of 8 bytes: three chunk rows, the last one short.
SMALL_CHUNKS = 8
CONTENT = bytes(range(20))


@pytest.fixture
def storage():
    return DatabaseStorage(chunk_size=SMALL_CHUNKS)


def test_the_default_storage_is_the_database():
    assert isinstance(default_storage, DatabaseStorage) and isinstance(storages["default"], DatabaseStorage)
    assert upload_storage(lambda name, default="": default) == {"BACKEND": "core.storage.DatabaseStorage"}


def test_a_saved_file_is_split_in_chunks_and_reads_back_whole(storage):
    name = storage.save("finance/imports/statement.csv", ContentFile(CONTENT))

    stored = StoredFile.objects.get(name=name)
    assert (stored.size, stored.chunk_size) == (20, SMALL_CHUNKS)
    sizes = [len(bytes(data)) for data in stored.chunks.order_by("number").values_list("data", flat=True)]
    assert sizes == [8, 8, 4]
    with storage.open(name) as handle:
        assert handle.read() == CONTENT
    assert (storage.exists(name), storage.size(name)) == (True, 20)


def test_reads_cross_chunk_boundaries_and_seek(storage):
    name = storage.save("a.bin", ContentFile(CONTENT))

    with storage.open(name) as handle:
        assert handle.read(5) == CONTENT[:5]
        assert handle.read(6) == CONTENT[5:11]  # the end of chunk 0 and the start of chunk 1
        handle.seek(18)
        assert handle.read() == CONTENT[18:]
        handle.seek(0)
        assert b"".join(handle.chunks(7)) == CONTENT
        assert handle.size == 20


def test_reading_fetches_only_the_chunks_it_needs(storage):
    name = storage.save("big.bin", ContentFile(CONTENT))
    handle = storage.open(name)

    with CaptureQueriesContext(connection) as first:
        assert handle.read(3) == CONTENT[:3]
    with CaptureQueriesContext(connection) as second:
        assert handle.read(4) == CONTENT[3:7]  # still in the chunk already fetched
    with CaptureQueriesContext(connection) as third:
        assert handle.read(4) == CONTENT[7:11]  # reaches into the second chunk

    assert (len(first), len(second), len(third)) == (1, 0, 1)  # one chunk at a time, never the file
    handle.close()


def test_uploaded_files_in_several_pieces_are_rechunked(storage):
    upload = SimpleUploadedFile("photo.png", CONTENT)
    upload.DEFAULT_CHUNK_SIZE = 3  # the upload hands its bytes over in 3-byte pieces

    name = storage.save("returns/photo.png", upload)

    assert [
        len(bytes(d)) for d in StoredFileChunk.objects.order_by("number").values_list("data", flat=True)
    ] == [
        8,
        8,
        4,
    ]
    assert storage.open(name).read() == CONTENT


def test_an_empty_file_and_text_content(storage):
    empty = storage.save("empty.txt", ContentFile(b""))
    text = storage.save("note.txt", ContentFile("二〇二六 statement"))

    assert storage.open(empty).read() == b"" and storage.size(empty) == 0
    assert storage.open(text, "r").read() == "二〇二六 statement"


def test_a_taken_name_gets_a_name_of_its_own(storage):
    first = storage.save("sheet.xlsx", ContentFile(b"first"))
    second = storage.save("sheet.xlsx", ContentFile(b"second"))

    assert first == "sheet.xlsx" and second != first and second.endswith(".xlsx")
    assert (storage.open(first).read(), storage.open(second).read()) == (b"first", b"second")


def test_a_name_taken_between_the_check_and_the_insert_is_not_overwritten(storage, monkeypatch):
    storage.save("race.csv", ContentFile(b"theirs"))
    # The other upload's row is committed after this one checked that the name was free.
    real_exists = storage.exists
    calls = []

    def exists_once_free(name):
        calls.append(name)
        return False if len(calls) == 1 else real_exists(name)

    monkeypatch.setattr(storage, "exists", exists_once_free)

    mine = storage.save("race.csv", ContentFile(b"mine"))

    assert mine != "race.csv"
    assert (storage.open("race.csv").read(), storage.open(mine).read()) == (b"theirs", b"mine")


def test_a_file_saved_in_a_transaction_that_rolls_back_is_gone(storage):
    with pytest.raises(RuntimeError), transaction.atomic():
        storage.save("rolled-back.csv", ContentFile(CONTENT))
        raise RuntimeError("the upload's transaction fails after the file was written")

    assert not storage.exists("rolled-back.csv")
    assert not StoredFileChunk.objects.exists()


def test_delete_removes_the_file_and_its_chunks(storage):
    name = storage.save("gone.csv", ContentFile(CONTENT))

    storage.delete(name)

    assert not storage.exists(name) and not StoredFileChunk.objects.exists()
    with pytest.raises(FileNotFoundError):
        storage.open(name)
    with pytest.raises(FileNotFoundError):
        storage.size(name)


def test_files_open_for_reading_only(storage):
    name = storage.save("ro.csv", ContentFile(b"x"))

    with pytest.raises(ValueError):
        storage.open(name, "wb")


def test_listdir_shows_folders_and_files(storage):
    for name in ("returns/2026/01/a.png", "returns/2026/02/b.png", "returns/c.pdf", "other.txt"):
        storage.save(name, ContentFile(b"x"))

    assert storage.listdir("returns") == (["2026"], ["c.pdf"])
    assert storage.listdir("") == (["returns"], ["other.txt"])


def test_a_file_reads_back_through_a_file_field_after_its_upload(settings):
    """What a worker does with a statement uploaded through the web: open the FileField."""
    from finance.imports.models import ImportBatch

    batch = ImportBatch(source="bank", layout_name="x", layout={}, file_name="s.csv")
    batch.file.save("s.csv", ContentFile(CONTENT), save=False)
    batch.save()

    again = ImportBatch.objects.get(pk=batch.pk)
    with again.file.open("rb") as handle:
        assert handle.read() == CONTENT


def test_the_admin_link_serves_a_stored_file_to_superusers_only(client, django_user_model, make_user):
    name = default_storage.save("finance/imports/s.csv", ContentFile(CONTENT))
    url = default_storage.url(name)
    assert url == reverse("stored-file", args=[name])

    client.force_login(make_user("manager"))
    assert client.get(url).status_code == 403
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-for-tests-1"))
    response = client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == CONTENT
    assert response["Content-Length"] == "20" and "attachment" in response["Content-Disposition"]
    assert client.get(reverse("stored-file", args=["no/such.csv"])).status_code == 404


def test_s3_compatible_storage_when_a_bucket_is_configured():
    env = {
        "AWS_STORAGE_BUCKET_NAME": "conduit-uploads",
        "AWS_S3_ENDPOINT_URL": "https://minio.internal:9000",
        "AWS_S3_ACCESS_KEY_ID": "key-id",
        "AWS_S3_SECRET_ACCESS_KEY": "secret",
    }
    config = upload_storage(lambda name, default="": env.get(name, default))

    assert config["BACKEND"] == "storages.backends.s3.S3Storage"
    from storages.backends.s3 import S3Storage

    s3 = S3Storage(**config["OPTIONS"])
    assert (s3.bucket_name, s3.endpoint_url, s3.access_key) == (
        "conduit-uploads",
        "https://minio.internal:9000",
        "key-id",
    )
    assert s3.file_overwrite is False and s3.default_acl == "private" and s3.region_name is None


def test_the_admin_shows_a_stored_upload_with_its_link(client, django_user_model):
    from finance.imports.models import ImportBatch

    batch = ImportBatch(source="bank", layout_name="x", layout={}, file_name="s.csv")
    batch.file.save("s.csv", ContentFile(CONTENT), save=False)
    batch.save()
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-for-tests-1"))

    response = client.get(reverse("admin:finance_importbatch_change", args=[batch.pk]))

    assert response.status_code == 200
    assert f'href="{reverse("stored-file", args=[batch.file.name])}"' in response.content.decode()
