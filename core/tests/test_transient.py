"""core.transient: a deadlock or serialization failure runs the outermost transaction again;
anything else, or a transaction inside another, is not."""

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, transaction

from core.transient import is_transient, run_again_when_transient


def deadlock():
    error = OperationalError("deadlock detected")
    error.__cause__ = psycopg.errors.DeadlockDetected("deadlock detected")
    return error


def serialization_failure():
    error = OperationalError("could not serialize access")
    error.__cause__ = psycopg.errors.SerializationFailure("could not serialize access")
    return error


def failing_times(count, error_factory):
    calls = []

    def work():
        calls.append(1)
        if len(calls) <= count:
            raise error_factory()
        return "done"

    return work, calls


def test_deadlocks_and_serialization_failures_are_transient_other_errors_are_not():
    assert is_transient(deadlock())
    assert is_transient(serialization_failure())
    assert not is_transient(IntegrityError("duplicate key"))
    assert not is_transient(OperationalError("connection refused"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("error_factory", [deadlock, serialization_failure])
def test_transient_failures_run_the_work_again(error_factory):
    work, calls = failing_times(2, error_factory)
    assert run_again_when_transient(work, attempts=3) == "done"
    assert len(calls) == 3


@pytest.mark.django_db(transaction=True)
def test_it_gives_up_after_the_attempts():
    work, calls = failing_times(5, deadlock)
    with pytest.raises(OperationalError):
        run_again_when_transient(work, attempts=3)
    assert len(calls) == 3


@pytest.mark.django_db(transaction=True)
def test_other_errors_are_raised_at_once():
    work, calls = failing_times(1, lambda: IntegrityError("duplicate key"))
    with pytest.raises(IntegrityError):
        run_again_when_transient(work)
    assert len(calls) == 1


@pytest.mark.django_db(transaction=True)
def test_inside_another_transaction_the_failure_belongs_to_the_caller():
    work, calls = failing_times(1, deadlock)
    with pytest.raises(OperationalError), transaction.atomic():
        run_again_when_transient(work)
    assert len(calls) == 1


def test_an_error_chain_that_loops_is_not_transient_and_ends():
    error = OperationalError("odd")
    error.__cause__ = error
    assert not is_transient(error)
