"""Serving: the Triton model repository, the bundled server's launcher and the gRPC client.

:class:`~pipeline.serving.launcher.TritonServer` starts and stops a local ``tritonserver`` on loopback
ports; :class:`~pipeline.serving.client.TritonClient` sends uint8 frame batches over gRPC (with system
shared memory when the server shares the host) and returns ``[B, K, 6]`` detections.
"""

# No re-exports on purpose: every python-backend stub imports pipeline.serving.python_model, and importing
# the launcher or tritonclient here would slow down and enlarge each of those processes.
