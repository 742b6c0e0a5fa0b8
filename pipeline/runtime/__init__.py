"""The running pipeline: camera actors -> scheduler -> per-model batches -> Triton -> tracker -> Redis."""
