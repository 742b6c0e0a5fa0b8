"""Benchmarks that print figures: models (PyTorch against Triton) and, later, the pipeline."""
