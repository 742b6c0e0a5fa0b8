"""The planner: predict each design's throughput and max cameras before building it.

``hardware`` (the calibrated machine profile), ``calibrate`` and ``probes`` (measuring it), ``cost`` (the
per-layer roofline and per-design cost), ``plan`` (the load model and camera scan) and ``validate``
(predictions against a load-test report).
"""
