from __future__ import annotations

import pytest

from pipeline.models.model_config import ModelConfig, load_model_config
from pipeline.planner.hardware import HardwareProfile, load_hardware


@pytest.fixture(scope="session")
def model_config() -> ModelConfig:
    return load_model_config()


@pytest.fixture(scope="session")
def hardware() -> HardwareProfile:
    return load_hardware()
