"""A bounded, thread-safe queue that drops its oldest item when full and counts what it dropped.

Live video wants the newest frames: when the consumer falls behind, old frames lose their value first.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """Bounded FIFO; :meth:`put` on a full queue evicts the oldest item and counts one drop."""

    def __init__(self, maxsize: int) -> None:
        """Create an empty queue.

        Args:
            maxsize: Items kept at most (>= 1).

        Raises:
            ValueError: if ``maxsize`` < 1.
        """
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._dropped = 0
        self._put = 0

    @property
    def maxsize(self) -> int:
        """Items kept at most."""
        return self._maxsize

    @property
    def dropped(self) -> int:
        """Items evicted because the queue was full, since creation."""
        return self._dropped

    @property
    def total_put(self) -> int:
        """Items put since creation."""
        return self._put

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> bool:
        """Append ``item``; return True when that evicted the oldest item."""
        with self._lock:
            self._put += 1
            self._items.append(item)
            if len(self._items) > self._maxsize:
                self._items.popleft()
                self._dropped += 1
                return True
            return False

    def get_many(self, max_items: int) -> list[T]:
        """Remove and return up to ``max_items`` of the oldest items (possibly none); never blocks."""
        with self._lock:
            count = min(max_items, len(self._items))
            return [self._items.popleft() for _ in range(count)]

    def clear(self) -> int:
        """Remove every item; return how many there were (not counted as drops)."""
        with self._lock:
            count = len(self._items)
            self._items.clear()
            return count
