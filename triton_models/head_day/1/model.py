"""Triton python-backend entry point of `head_day` (see pipeline/serving/python_model.py)."""

from pipeline.serving.python_model import TorchScriptModel as TritonPythonModel

__all__ = ["TritonPythonModel"]
