"""Camera workers: the data plane. Each worker decodes, routes, batches, infers, tracks and publishes."""

from pipeline.worker.settings import WorkerSettings
from pipeline.worker.worker import CameraWorker

__all__ = ["CameraWorker", "WorkerSettings"]
