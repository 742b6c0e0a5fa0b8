"""The REST control plane: cameras, policy, Prometheus metrics, health and a status page on Ray Serve.

Modules: :mod:`~pipeline.control.channel` (the Ray actor between HTTP handlers and the pipeline),
:mod:`~pipeline.control.bridge` (the pipeline's end, polled from its loop), :mod:`~pipeline.control.api`
(the FastAPI routes), :mod:`~pipeline.control.metrics` and :mod:`~pipeline.control.status_page` (views of a
snapshot), :mod:`~pipeline.control.app` (Serve start and stop). Import them directly: this package does not
import Ray Serve unless :mod:`~pipeline.control.app` is used.
"""
