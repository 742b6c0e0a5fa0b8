"""Pools of system shared-memory regions registered with one Triton server, per model.

A region holds one request: the input at offset 0 and the output after it. Regions are created and
registered once and reused while the request fits; a larger batch replaces the region with a larger one.
Taking a region out of the pool for the length of a request lets several threads keep requests in flight.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from itertools import count
from typing import Any

import numpy as np
import numpy.typing as npt
import tritonclient.utils.shared_memory as shm
from tritonclient.utils import InferenceServerException

logger = logging.getLogger(__name__)

ALIGN = 64
_ids = count()


@dataclass
class Region:
    """One system shared-memory region and its registration state with the server."""

    name: str
    handle: Any
    byte_size: int
    registered: bool = False
    stale: bool = False

    def write(self, array: npt.NDArray[Any]) -> None:
        """Copy ``array`` to the start of the region."""
        shm.set_shared_memory_region(self.handle, [array])

    def read(self, shape: tuple[int, ...], offset: int) -> npt.NDArray[np.float32]:
        """A float32 copy of ``shape`` read at ``offset`` (a copy: the region is reused afterwards)."""
        view = shm.get_contents_as_numpy(self.handle, np.float32, shape, offset=offset)
        return np.array(view, dtype=np.float32, copy=True)


def aligned(byte_size: int) -> int:
    """``byte_size`` rounded up to the output alignment."""
    return -(-byte_size // ALIGN) * ALIGN


class ShmPool:
    """Shared-memory regions of one :class:`tritonclient.grpc.InferenceServerClient`, pooled per model."""

    def __init__(self, grpc: Any, timeout_s: float) -> None:
        """Use ``grpc`` (a ``tritonclient.grpc.InferenceServerClient``) to (un)register regions."""
        self._grpc = grpc
        self._timeout_s = timeout_s
        self._free: dict[str, list[Region]] = {}
        self._regions: list[Region] = []
        self._lock = threading.Lock()

    def acquire(self, model: str, byte_size: int) -> Region:
        """Take a registered region of ``model`` with room for ``byte_size``; hand it back with release.

        Raises:
            InferenceServerException: if the server refuses the registration.
            SharedMemoryException: if the region cannot be created.
        """
        with self._lock:
            free = self._free.setdefault(model, [])
            region = free.pop() if free else None
        if region is not None and region.byte_size < byte_size:
            self._destroy(region)
            region = None
        if region is None:
            name = f"camfleet_{os.getpid()}_{next(_ids)}"
            handle = shm.create_shared_memory_region(name, f"/{name}", byte_size, create_only=True)
            region = Region(name, handle, byte_size)
            with self._lock:
                self._regions.append(region)
        if not region.registered:
            try:
                if region.stale:
                    self._unregister(region.name)
                self._grpc.register_system_shared_memory(
                    region.name, f"/{region.name}", region.byte_size, client_timeout=self._timeout_s
                )
            except BaseException:
                self.release(model, region)
                raise
            region.registered, region.stale = True, False
        return region

    def release(self, model: str, region: Region) -> None:
        """Return ``region`` to ``model``'s pool."""
        with self._lock:
            self._free.setdefault(model, []).append(region)

    def forget_registrations(self) -> None:
        """Re-register every region on next use (the server may have restarted without them)."""
        with self._lock:
            for region in self._regions:
                region.stale = region.stale or region.registered
                region.registered = False

    def close(self) -> None:
        """Unregister and destroy every region (errors from a server that is gone are ignored)."""
        for region in list(self._regions):
            self._destroy(region)
        self._free.clear()

    def _unregister(self, name: str) -> None:
        try:
            self._grpc.unregister_system_shared_memory(name, client_timeout=min(self._timeout_s, 5.0))
        except InferenceServerException as exc:
            logger.debug("unregistering shared memory %s failed: %s", name, exc.message())

    def _destroy(self, region: Region) -> None:
        if region.registered:
            self._unregister(region.name)
        shm.destroy_shared_memory_region(region.handle)
        with self._lock:
            self._regions.remove(region)
