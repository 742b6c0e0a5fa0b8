"""The events stage: detections -> tracks -> events -> Redis.

Data flow: :func:`~pipeline.events.decode.decode_detections` turns a model's ``[K, 6]`` output into
tracker input in source-frame pixels, :class:`~pipeline.events.tracker.CameraTracker` follows objects per
camera and emits :class:`~pipeline.events.schema.Event` values, and
:class:`~pipeline.events.sink.RedisEventSink` publishes them to a Redis pub/sub channel and a capped stream.
"""
