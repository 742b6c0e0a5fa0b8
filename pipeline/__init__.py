"""camfleet: multi-camera object detection serving and network-design planning.

The package follows the data flow: ``world`` (synthetic cameras) -> ``ingest`` (decode) ->
``scheduler`` (model per stream) -> ``serving`` (Triton) -> ``events`` (Redis), with ``models``
holding the three network designs and ``planner`` predicting their throughput.
"""

__version__ = "0.1.0"
