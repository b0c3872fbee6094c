"""Each Celery pool process freezes the heap it starts with, so the cyclic collector stops walking it."""

from __future__ import annotations

import gc

from celery.signals import worker_process_init

from config.celery import WORKER_GC_THRESHOLDS, worker_heap_freeze


def test_pool_processes_freeze_their_start_up_heap():
    assert worker_heap_freeze in [receiver() for _, receiver in worker_process_init.receivers]
    thresholds = gc.get_threshold()
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        worker_process_init.send(sender=None)
        assert gc.get_freeze_count() > 1000  # the modules and objects loaded so far: out of the collector's walks
        assert gc.get_threshold() == WORKER_GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
