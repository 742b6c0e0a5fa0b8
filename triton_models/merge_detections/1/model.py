"""Triton python-backend entry point of `merge_detections` (see pipeline/serving/python_model.py)."""

from pipeline.serving.python_model import MergeDetectionsModel as TritonPythonModel

__all__ = ["TritonPythonModel"]
