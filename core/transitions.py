"""The one transition helper every state machine uses (orders, shipments, returns, cycle counts).

A state change always runs the same steps, in this order, inside the caller's transaction:

    lock (rows in ascending id) → permission → expected state → transition → save → event →
    work to do once the transaction commits

`lock_rows` takes the row locks; `transition` does the rest for one locked instance. The event is
the caller's (an order timeline row, a shipment row on each order it carries…): the helper only
says when it is written. Messages name the object the way its model's `transition_subject`
does ("Order SO…", "Shipment SH…", "RMA…"), so every refusal reads the same way.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models, transaction
from django.utils.translation import gettext as _
from django_fsm import can_proceed, has_transition_perm

from core.errors import NotPermitted, TransitionRefused

if TYPE_CHECKING:
    from core.models import User

    Actor = User | None
else:
    Actor = Any

M = TypeVar("M", bound=models.Model)
E = TypeVar("E")


@dataclass(frozen=True)
class Moved:
    """What one transition did: its name and the states before and after."""

    name: str
    from_state: str
    to_state: str


def lock_rows(queryset: models.QuerySet[M], ids: Iterable[int]) -> list[M]:
    """Lock the rows with these ids in ascending id: the one lock order that keeps two writers
    touching the same rows from deadlocking."""
    return list(queryset.select_for_update(of=("self",)).filter(pk__any=sorted(set(ids))).order_by("pk"))


def lock_one(queryset: models.QuerySet[M], pk: int) -> M:
    return queryset.select_for_update(of=("self",)).get(pk=pk)


def require_perm(actor: Actor, perm: str, message: str | None = None) -> None:
    """`actor=None` is the system (integrations, scheduled jobs): it is never refused here."""
    if actor is not None and not actor.has_perm(perm):
        raise NotPermitted(message or _("You are not allowed to do this."))


def subject(instance: models.Model) -> str:
    return getattr(instance, "transition_subject", None) or str(instance)


def state_field(instance: models.Model, name: str) -> str:
    """The FSM field a transition method changes (django-fsm records it on the method)."""
    field = getattr(instance, name)._django_fsm.field
    return field if isinstance(field, str) else field.name


def state_label(instance: models.Model, field: str) -> str:
    return str(getattr(instance, f"get_{field}_display")())


def require_state(instance: models.Model, expected: str | None, *, field: str = "status") -> None:
    """The desk posts the state the user saw; a click on a stale page must not act on a new state."""
    if expected and getattr(instance, field) != expected:
        raise TransitionRefused(
            _("%(subject)s changed meanwhile: it is now %(status)s.")
            % {"subject": subject(instance), "status": state_label(instance, field)}
        )


def may(instance: models.Model, name: str, actor: Actor) -> bool:
    """Whether the transition would pass `check_transition` now (to decide before doing work)."""
    method = getattr(instance, name)
    return has_transition_perm(method, actor) if actor is not None else can_proceed(method)


def check_transition(
    instance: models.Model,
    name: str,
    actor: Actor,
    *,
    refused: str | None = None,
    forbidden: str | None = None,
) -> None:
    """Permission first (a user who may not act is told so, in `forbidden` words when given),
    then whether the state allows it (`refused` words when given)."""
    if may(instance, name, actor):
        return
    method = getattr(instance, name)
    if actor is not None and can_proceed(method):
        raise NotPermitted(forbidden or _("You are not allowed to do this."))
    field = state_field(instance, name)
    raise TransitionRefused(
        refused
        or _("%(subject)s cannot “%(action)s” while %(status)s.")
        % {"subject": subject(instance), "action": name, "status": state_label(instance, field)}
    )


def apply(instance: models.Model, name: str, actor: Actor, *, args: dict[str, Any] | None = None) -> Moved:
    """Check and run one transition without saving: for rows the caller writes in bulk that
    nobody else can see yet (orders inserted in this transaction). Events are the caller's too."""
    check_transition(instance, name, actor)
    field = state_field(instance, name)
    from_state = getattr(instance, field)
    getattr(instance, name)(**(args or {}))
    return Moved(name, from_state, getattr(instance, field))


def transition(
    instance: M,
    name: str,
    actor: Actor,
    *,
    args: dict[str, Any] | None = None,
    event: Callable[[Moved], E] | None = None,
    on_commit: Callable[[], Any] | None = None,
    refused: str | None = None,
    forbidden: str | None = None,
) -> E | None:
    """Run one transition on an instance the caller has locked: check it, apply it, save, write
    the event, and schedule `on_commit` for after the transaction. Returns what `event` returned."""
    check_transition(instance, name, actor, refused=refused, forbidden=forbidden)
    field = state_field(instance, name)
    from_state = getattr(instance, field)
    getattr(instance, name)(**(args or {}))
    instance.save()
    written = event(Moved(name, from_state, getattr(instance, field))) if event else None
    if on_commit is not None:
        transaction.on_commit(on_commit)
    return written
