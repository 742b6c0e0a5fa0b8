"""Per-model batching of frames from every stream into Triton requests."""

from pipeline.batching.batcher import BatcherStats, InferenceResult, ModelBatcher, RoutedFrame

__all__ = ["BatcherStats", "InferenceResult", "ModelBatcher", "RoutedFrame"]
