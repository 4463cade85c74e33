"""The Celery broker as the health check sees it: can we reach it, and how many messages wait in
each named queue.

Depths come from the broker itself (a passive queue declaration): Redis counts the list lengths
(LLEN over the priority lists), the embedded filesystem broker counts the message files, AMQP
reports its message count. Any other transport answers "unknown" (None) rather than a guess."""

from dataclasses import dataclass, field

from celery import current_app
from kombu.exceptions import ChannelError, OperationalError

MEASURED_TRANSPORTS = {"redis", "filesystem", "amqp", "memory"}
CONNECT_TIMEOUT = 2.0  # seconds: a health check must answer quickly even when the broker does not


@dataclass
class BrokerStatus:
    reachable: bool
    depths: dict[str, int | None] = field(default_factory=dict)  # queue → messages waiting (None: unknown)


def queue_names(app=None) -> list[str]:
    """Every queue the configuration names: the default one, declared queues and routes' queues."""
    conf = (app or current_app).conf
    names = {conf.task_default_queue}
    names.update(conf.get("task_queue_names") or ())  # config/settings: CELERY_TASK_QUEUE_NAMES
    names.update(queue.name for queue in conf.task_queues or ())
    routes = conf.task_routes or {}
    for route in routes.values() if isinstance(routes, dict) else ():
        queue = route.get("queue") if isinstance(route, dict) else None
        if queue:
            names.add(getattr(queue, "name", queue))
    return sorted(names)


def broker_status(app=None, *, queues: list[str] | None = None) -> BrokerStatus:
    """Connect (within CONNECT_TIMEOUT) and read each queue's depth; unreachable when connecting
    or reading fails."""
    app = app or current_app
    queues = queue_names(app) if queues is None else queues
    try:
        with app.connection_for_read(connect_timeout=CONNECT_TIMEOUT) as connection:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=CONNECT_TIMEOUT
            )
            if connection.transport.driver_type not in MEASURED_TRANSPORTS:
                return BrokerStatus(True, dict.fromkeys(queues))
            return BrokerStatus(True, {queue: _depth(connection, queue) for queue in queues})
    except (OperationalError, ConnectionError, OSError, TimeoutError):
        return BrokerStatus(False, dict.fromkeys(queues))


def _depth(connection, queue: str) -> int:
    with connection.channel() as channel:  # a fresh channel: AMQP closes one on a missing queue
        try:
            return channel.queue_declare(queue=queue, passive=True).message_count
        except ChannelError:  # never declared, or empty and gone (Redis keeps no empty list)
            return 0
