"""The load tester: grows the number of cameras per design and reports throughput, latency and limits.

It depends on ``pipeline`` and never the other way round: ``pipeline`` knows the report's schema
(:mod:`pipeline.report_schema`) and its CLI verbs import this package only inside their bodies.
"""
