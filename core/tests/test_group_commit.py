"""The group commit's own thread (GroupCommitThread): every batch runs on it, callers waiting at
once share a batch, a batch that fails as a whole is retried by each caller on its own, a caller
is answered only when its batch returned, and the thread ends when idle and starts again."""

import threading
import time

from core.group_commit import GroupCommitThread


def run_callers(count, call):
    barrier, answers, errors = threading.Barrier(count), {}, {}

    def caller(n):
        barrier.wait()
        try:
            answers[n] = call(n)
        except Exception as exc:  # noqa: BLE001 - checked by the test
            errors[n] = exc

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, errors


def test_batches_run_on_one_thread_of_their_own_and_callers_share_them():
    batches, threads = [], set()

    def run_batch(items):
        threads.add(threading.get_ident())
        batches.append(list(items))
        time.sleep(0.01)  # long enough for the other callers to queue behind this batch
        return [item * 10 for item in items]

    group = GroupCommitThread(run_batch=run_batch, run_one=lambda item: -item, max_batch=64)
    try:
        answers, errors = run_callers(32, lambda n: (threading.get_ident(), group.submit(n)))
    finally:
        group.stop()

    assert errors == {}
    assert {n: answer for n, (_caller, answer) in answers.items()} == {n: n * 10 for n in range(32)}
    assert len(threads) == 1 and threads.isdisjoint(caller for caller, _answer in answers.values())
    assert sorted(item for batch in batches for item in batch) == list(range(32))
    assert len(batches) < 32  # callers shared batches


def test_a_batch_that_fails_as_a_whole_is_retried_by_each_caller_in_its_own_thread():
    alone = {}

    def run_batch(items):
        raise RuntimeError("the batch failed and wrote nothing")

    def run_one(item):
        alone[item] = threading.get_ident()
        if item == 3:
            raise ValueError("request 3 is refused")
        return item + 100

    group = GroupCommitThread(run_batch=run_batch, run_one=run_one)
    try:
        answers, errors = run_callers(8, lambda n: (threading.get_ident(), group.submit(n)))
    finally:
        group.stop()

    assert {n: answer for n, (_caller, answer) in answers.items()} == {n: n + 100 for n in range(8) if n != 3}
    assert list(errors) == [3] and isinstance(errors[3], ValueError)
    assert all(alone[n] == caller for n, (caller, _answer) in answers.items())  # each in its own thread


def test_an_error_handed_back_for_one_request_is_raised_to_its_caller_only():
    def run_batch(items):
        return [ValueError(f"no {item}") if item % 2 else item for item in items]

    group = GroupCommitThread(run_batch=run_batch, run_one=lambda item: None)
    try:
        answers, errors = run_callers(6, group.submit)
    finally:
        group.stop()

    assert answers == {0: 0, 2: 2, 4: 4}
    assert {n: str(error) for n, error in errors.items()} == {1: "no 1", 3: "no 3", 5: "no 5"}


def test_a_caller_is_answered_only_once_its_batch_returned():
    release = threading.Event()

    def run_batch(items):
        release.wait(5)
        return list(items)

    group = GroupCommitThread(run_batch=run_batch, run_one=lambda item: None)
    answered = []
    caller = threading.Thread(target=lambda: answered.append(group.submit("lock")))
    try:
        caller.start()
        caller.join(0.2)
        assert answered == []  # the batch has not returned: no answer yet
        release.set()
        caller.join(5)
        assert answered == ["lock"]
    finally:
        release.set()
        group.stop()


def test_the_thread_ends_when_idle_and_the_next_request_starts_another():
    seen = []
    group = GroupCommitThread(
        run_batch=lambda items: seen.append(threading.get_ident()) or list(items),
        run_one=lambda item: None,
        idle_seconds=0.05,
    )
    try:
        assert group.submit(1) == 1
        first = group._thread
        first.join(2)
        assert not first.is_alive() and group._thread is None
        assert group.submit(2) == 2
        assert len(seen) == 2 and group._thread is not first
    finally:
        group.stop()


def test_a_batch_runs_in_its_callers_language_and_never_mixes_languages():
    from django.utils import translation

    languages_seen = []

    def run_batch(items):
        language = translation.get_language()
        languages_seen.append({item[1] for item in items} | {language})
        time.sleep(0.005)
        return [language for _item in items]

    def call(n):
        language = "zh-hans" if n % 2 else "en"
        with translation.override(language):
            return language, group.submit((n, language))

    group = GroupCommitThread(run_batch=run_batch, run_one=lambda item: None)
    try:
        answers, errors = run_callers(24, call)
    finally:
        group.stop()

    assert errors == {}
    assert all(asked == answered for asked, answered in answers.values())  # worded as each caller reads
    assert all(len(batch) == 1 for batch in languages_seen)  # one language per batch, the batch's own
