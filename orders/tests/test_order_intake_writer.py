"""Single order POSTs through the order intake writers (ORDER_INTAKE_WRITER_URL): callers on
parallel connections share a writer's batches, two writers store theirs at once, and every caller
gets the status and the very bytes the in-process path gives — created, known, invalid, refused,
in the caller's language. When the writer does not answer, or fails in a way that is not the
order's fault, the web process ingests the order itself, and a writer coming back late does not
store it twice."""

import threading
import uuid
from contextlib import contextmanager

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from core.batch_writer import serve
from core.errors import TransitionRefused
from core.tests.real_worker import redis_url
from inventory.reconciliation import find_drift
from inventory.tests.test_concurrency import run_parallel
from orders import intake, selectors, services
from orders.api import bulk, intake_writer
from orders.api.views import created_order_body, known_order_body
from orders.models import Order, OrderLine
from orders.tests.factories import canonical_payload, ensure_master_data

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
URL = "/api/v1/orders/"


@pytest.fixture
def writer_settings(settings, monkeypatch):
    settings.ORDER_INTAKE_WRITER_URL = redis_url()
    monkeypatch.setattr(intake_writer, "QUEUE", f"order-intake-test-{uuid.uuid4().hex}")  # parallel runs
    ensure_master_data()
    yield settings
    intake_writer.writer_queue().client.delete(intake_writer.writer_queue().queue)


@contextmanager
def _serving(count: int, before_settling=lambda _writer: None, max_batch: int = 128):
    """`count` writers, each on a thread of its own (its own database connection), served as the
    command serves them. Yields the sizes of the batches each took; `before_settling(writer)` runs
    before each batch is settled."""
    stop, batches = threading.Event(), [[] for _ in range(count)]

    def run(index):
        def settle(items):
            batches[index].append(len(items))  # before the callers are answered
            before_settling(index)
            return intake_writer.settle_order_items(items)

        queue = intake_writer.writer_queue()  # taken once, as the command takes it
        try:
            serve(queue, settle, max_batch=max_batch, stopped=stop.is_set)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield batches
    finally:
        stop.set()
        for thread in threads:
            thread.join()


@pytest.fixture
def writer(writer_settings):
    """One writer; yields the sizes of the batches it took."""
    with _serving(1) as batches:
        yield batches[0]


def _client(user, language: str | None = None) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    if language:
        client.credentials(HTTP_ACCEPT_LANGUAGE=language)
    return client


def _as_the_api_renders(body) -> bytes:
    return JSONRenderer().render(body)


def test_parallel_posts_share_the_writers_batches_and_get_the_bodies_the_api_gives(writer, agent):
    clients = [_client(agent) for _ in range(12)]
    payloads = [canonical_payload() for _ in range(12)]
    answers = [None] * 12

    def post(index):
        answers[index] = clients[index].post(URL, payloads[index], format="json")

    assert run_parallel(12, post) == []

    assert [answer.status_code for answer in answers] == [201] * 12
    assert max(writer) > 1  # callers of different connections in one batch
    assert Order.objects.count() == 12 and OrderLine.objects.count() == 24
    for payload, answer in zip(payloads, answers, strict=True):
        order = Order.objects.select_related("channel", "customer").get(external_id=payload["external_id"])
        selectors.attach_order_detail(order)
        assert answer.content == _as_the_api_renders(created_order_body(order))  # byte for byte
        assert answer["Content-Type"] == "application/json"
    assert find_drift() == []

    again = clients[0].post(URL, payloads[0], format="json")  # a repeat: the known order, 200
    assert again.status_code == 200
    known = Order.objects.get(external_id=payloads[0]["external_id"])
    assert again.content == _as_the_api_renders(known_order_body(known))
    assert Order.objects.count() == 12


def test_two_writers_store_their_batches_at_once_and_each_order_once(writer_settings, agent):
    """The README runs two writer processes on one queue. Here each writer's first batch waits
    until the other has taken one too, so two intake transactions run at once on the same SKUs
    and customer; every order is posted twice by two callers at the same time."""
    both_busy = threading.Barrier(2, timeout=20)

    def first_batches_overlap(index):
        if len(batches[index]) == 1:
            both_busy.wait()

    payloads = [canonical_payload(paid=bool(n % 2)) for n in range(8)]
    clients = [_client(agent) for _ in range(16)]
    answers = [None] * 16

    def post(index):
        answers[index] = clients[index].post(URL, payloads[index % 8], format="json")

    with _serving(2, first_batches_overlap, max_batch=4) as batches:  # neither can take all 16
        assert run_parallel(16, post) == []

    assert all(batches)  # both writers stored batches
    for n in range(8):
        statuses = sorted(answers[i].status_code for i in (n, n + 8))
        assert statuses == [200, 201]  # one caller created it, the other got the known order
        assert answers[n].json()["number"] == answers[n + 8].json()["number"]
    assert Order.objects.count() == 8 and OrderLine.objects.count() == 16
    assert find_drift() == []


def _answers_in_process_and_through_the_writer(settings, batches, client, payload):
    settings.ORDER_INTAKE_WRITER_URL = ""
    alone = client.post(URL, payload, format="json")
    settings.ORDER_INTAKE_WRITER_URL = redis_url()
    taken = len(batches)
    through = client.post(URL, payload, format="json")
    assert len(batches) == taken + 1  # the writer answered it
    return alone, through


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_an_invalid_order_gets_the_same_field_errors_in_the_callers_language(
    writer, settings, agent, language
):
    payload = canonical_payload(
        currency="yuan", lines=[{"sku": "NOPE", "quantity": 0, "unit_price": "-1"}], placed_at="yesterday"
    )
    alone, through = _answers_in_process_and_through_the_writer(
        settings, writer, _client(agent, language), payload
    )

    assert alone.status_code == through.status_code == 400
    assert through.json() == alone.json()
    assert set(through.json()) == {"currency", "lines", "placed_at"}
    chinese = any("\u4e00" <= char <= "\u9fff" for char in str(through.json()["currency"]))
    assert chinese == (language == "zh-hans")
    assert not Order.objects.exists()


def test_a_known_order_refusing_its_newer_version_is_a_409_as_in_process(
    writer, settings, agent, monkeypatch
):
    client = _client(agent)
    known = canonical_payload(external_id="STUCK", updated_at="2026-01-01T10:00:00+08:00")
    assert client.post(URL, known, format="json").status_code == 201

    def refuse(order, data, actor):
        raise TransitionRefused("The order is packed: the platform's change cannot be applied.")

    monkeypatch.setattr(services, "order_apply_platform_version", refuse)
    newer = {**known, "updated_at": "2026-01-01T11:00:00+08:00"}
    alone, through = _answers_in_process_and_through_the_writer(settings, writer, client, newer)

    assert alone.status_code == through.status_code == 409
    assert (
        through.json()
        == alone.json()
        == {"detail": "The order is packed: the platform's change cannot be applied."}
    )


def test_with_no_writer_the_web_process_ingests_the_order_and_a_late_writer_leaves_it(writer_settings, agent):
    writer_settings.ORDER_INTAKE_WRITER_TIMEOUT_SECONDS = 1.2
    payload = canonical_payload()

    answer = _client(agent).post(URL, payload, format="json")

    assert answer.status_code == 201  # after the timeout, by the web process itself
    assert Order.objects.filter(external_id=payload["external_id"]).count() == 1
    # the writer, started late, finds the request its caller gave up on and leaves it
    queue = intake_writer.writer_queue()
    assert queue.serve_once(intake_writer.settle_order_items, max_batch=10, wait=0.1) == 1
    assert Order.objects.count() == 1


def test_a_writer_failure_that_is_not_the_orders_fault_sends_it_back_to_the_web_process(
    writer, agent, monkeypatch
):
    def database_gone(items):
        return [(None, RuntimeError("server closed the connection unexpectedly")) for _item in items]

    monkeypatch.setattr(intake, "order_submit_many", database_gone)
    payload = canonical_payload()

    answer = _client(agent).post(URL, payload, format="json")

    assert writer  # the writer took it, failed it, and answered "retry"
    assert answer.status_code == 201  # ingested by the web process instead
    assert Order.objects.filter(external_id=payload["external_id"]).count() == 1


def test_callers_of_two_languages_in_one_batch_each_get_their_own(writer_settings, agent):
    """Settled per language: nothing worded for a caller comes out in another's language."""
    bad = canonical_payload(currency="yuan")
    items = [
        {"payload": bad, "actor": agent.pk, "language": "en"},
        {"payload": bad, "actor": agent.pk, "language": "zh-hans"},
    ]

    english, chinese = intake_writer.settle_order_items(items)

    assert english.startswith(b"400\n") and chinese.startswith(b"400\n")
    assert english != chinese
    assert "ISO 4217" in english.decode()
    assert any("\u4e00" <= char <= "\u9fff" for char in chinese.decode())


def test_an_order_the_validation_itself_fails_on_goes_back_alone_and_the_batch_is_stored(
    writer_settings, agent, monkeypatch
):
    """One payload that crashes the validation neither stops the writer nor fails its batch: that
    caller's web process takes it (answering as it would without the writer); the others are stored.
    The thread's shared validator keeps none of the batch's look-ups afterwards."""
    from orders.canonical import CanonicalOrderInput

    validate = CanonicalOrderInput.run_validation

    def crash_on_poison(self, data=None):
        if isinstance(data, dict) and data.get("external_id") == "POISON":
            raise RuntimeError("a bug in validation")
        return validate(self, data)

    monkeypatch.setattr(CanonicalOrderInput, "run_validation", crash_on_poison)
    good, poison = canonical_payload(), canonical_payload(external_id="POISON")
    items = [{"payload": payload, "actor": agent.pk, "language": "en"} for payload in (good, poison)]

    stored, sent_back = intake_writer.settle_order_items(items)

    assert stored.startswith(b"201\n") and sent_back == intake_writer.RETRY
    assert list(Order.objects.values_list("external_id", flat=True)) == [good["external_id"]]
    assert bulk.order_input().context == {}


def test_the_writer_command_needs_its_url(settings):
    settings.ORDER_INTAKE_WRITER_URL = ""
    with pytest.raises(CommandError, match="ORDER_INTAKE_WRITER_URL"):
        call_command("order_intake_writer")


def test_a_batch_of_orders_takes_the_statements_of_one(writer_settings, agent):
    """Up to its commit, the writer's batch costs a fixed number of statements, whatever its size:
    one look-up of the callers with the permissions version, one each for channels and SKUs, then
    the intake's (customers, numbers, orders, lines, events, gift rules, balances, reservations,
    review rules, the placed notifications), without a savepoint. Its answers are read back by
    one round trip after it. A per-order statement, or the version read again, fails here."""

    def statements(count: int) -> tuple[list[str], list[str]]:
        items = [{"payload": canonical_payload(), "actor": agent.pk, "language": "en"} for _ in range(count)]
        with CaptureQueriesContext(connection) as done:
            answers = intake_writer.settle_order_items(items)
        assert all(answer.startswith(b"201\n") for answer in answers)
        sql = [query["sql"] for query in done.captured_queries]
        commit = sql.index("COMMIT")
        return sql[:commit], sql[commit:]

    statements(1)  # first use: nothing read once per process is counted below
    (one, _after), (four, after) = statements(1), statements(4)
    assert len(four) == len(one), "\n".join(four)
    assert len([sql for sql in four if "core_permissionsversion" in sql]) == 1  # with the callers
    assert len([sql for sql in four if sql.startswith("SELECT u.")]) == 1
    assert len([sql for sql in after if sql.startswith('SELECT l."id"')]) == 1  # every answer at once
    assert not [sql for sql in four if "SAVEPOINT" in sql]  # one transaction, nothing nested in it
