"""Set-up shared by Conduit's long-running processes: the web server (config.wsgi), the Celery
worker (config.celery), the batch writers (stock_lock_writer, order_intake_writer), and the
benchmarks that stand for them (bench.common)."""

import gc

# Net allocations between two young-generation collections (Python's default is 700).
GC_YOUNG_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Python's cycle collector runs every 700 net allocations and walks every young object each
    time. A 1,000-order intake or routing batch allocates hundreds of thousands of objects (model
    instances, rows, events), so the collector took ~15 % of the batch: 100 ms of a 650 ms intake
    batch, 110–245 ms of a ~1 s routing batch; with this, ~10 ms and ~6 ms. The objects alive
    after start-up (modules, settings, URL patterns, translations) live as long as the process:
    freezing them keeps every later full collection from walking them again. Cycles are still
    collected, between batches rather than inside them."""
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
