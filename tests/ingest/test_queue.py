from __future__ import annotations

import threading

import pytest

from pipeline.ingest.queue import DropOldestQueue


def test_drop_oldest_queue_full_drops_oldest_and_counts() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(3)
    dropped = [queue.put(i) for i in range(5)]
    assert dropped == [False, False, False, True, True]
    assert queue.dropped == 2
    assert queue.get_many(10) == [2, 3, 4]
    assert queue.get_many(10) == []


def test_drop_oldest_queue_concurrent_puts_account_for_every_item() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(50)
    taken: list[int] = []

    def producer(base: int) -> None:
        for i in range(2000):
            queue.put(base + i)

    def consumer() -> None:
        for _ in range(500):
            taken.extend(queue.get_many(7))

    threads = [threading.Thread(target=producer, args=(k * 10_000,)) for k in range(4)]
    threads.append(threading.Thread(target=consumer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    rest = queue.get_many(1000)
    assert len(taken) + len(rest) + queue.dropped == 8000 == queue.total_put
    assert len(set(taken + rest)) == len(taken) + len(rest)


def test_drop_oldest_queue_zero_size_raises() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        DropOldestQueue(0)
