"""The model-size config: one YAML file sets the sizes of every model family.

A user tries a new architecture by editing a copy of ``pipeline/models/default_models.yaml`` and passing
it with ``--model-config FILE`` to any command that builds or reasons about models.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import ConfigError

DEFAULT_MODEL_CONFIG_PATH = Path(__file__).with_name("default_models.yaml")

PositiveInt = Annotated[int, Field(gt=0)]


class BackboneConfig(BaseModel):
    """A backbone: a stride-2 stem, then stages of residual blocks.

    Each stage starts with a 3x3 convolution at the stage's stride, followed by ``depth`` residual blocks.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    stem_width: PositiveInt = Field(16, description="Output channels of the stride-2 stem convolution.")
    widths: tuple[PositiveInt, ...] = Field((24, 48, 96, 192), description="Output channels per stage.")
    depths: tuple[Annotated[int, Field(ge=0)], ...] = Field(
        (1, 2, 2, 1), description="Residual blocks per stage (after the stage's entry convolution)."
    )
    strides: tuple[Annotated[int, Field(ge=1, le=2)], ...] = Field(
        (2, 2, 1, 1), description="Stride of each stage's entry convolution (1 or 2)."
    )

    @model_validator(mode="after")
    def _stages_agree(self) -> BackboneConfig:
        if not (len(self.widths) == len(self.depths) == len(self.strides)) or not self.widths:
            raise ValueError(
                f"widths, depths and strides must have the same, non-zero length; got "
                f"{len(self.widths)}, {len(self.depths)}, {len(self.strides)}"
            )
        return self

    @property
    def output_stride(self) -> int:
        """Total stride of the backbone's output relative to the input image."""
        return 2 * math.prod(self.strides)

    @property
    def num_stages(self) -> int:
        """Number of stages."""
        return len(self.widths)


class HeadConfig(BaseModel):
    """The CenterNet-style detection head and its box decoding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: PositiveInt = Field(64, description="Channels of the shared 3x3 convolution in the head.")
    max_detections: PositiveInt = Field(
        32, le=1024, description="K: detections returned per frame (rows of the [K, 6] output)."
    )


class SharedTrunkConfig(BaseModel):
    """The shared-trunk design: the first ``branch_point`` stages of ``backbone`` are shared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backbone: BackboneConfig = Field(default_factory=BackboneConfig, description="The full backbone.")
    branch_point: int = Field(
        2, ge=0, description="Stages in the shared trunk (0 = only the stem is shared)."
    )

    @model_validator(mode="after")
    def _branch_inside_backbone(self) -> SharedTrunkConfig:
        if self.branch_point > self.backbone.num_stages:
            raise ValueError(
                f"branch_point {self.branch_point} is past the backbone's {self.backbone.num_stages} stages"
            )
        return self


class ModelConfig(BaseModel):
    """Sizes of every model family (see ``default_models.yaml`` for the shipped values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_size: int = Field(160, ge=32, le=2048, description="Square model input size in pixels.")
    monolith: BackboneConfig = Field(default_factory=BackboneConfig, description="The one big network.")
    specialist: BackboneConfig = Field(
        default_factory=lambda: BackboneConfig(widths=(16, 32, 64, 96), depths=(1, 1, 1, 1)),
        description="The backbone of every specialist (condition and class group).",
    )
    shared: SharedTrunkConfig = Field(default_factory=SharedTrunkConfig, description="The shared trunk.")
    head: HeadConfig = Field(default_factory=HeadConfig, description="The detection head of every model.")

    @model_validator(mode="after")
    def _input_divisible(self) -> ModelConfig:
        for name, backbone in (
            ("monolith", self.monolith),
            ("specialist", self.specialist),
            ("shared.backbone", self.shared.backbone),
        ):
            if self.input_size % backbone.output_stride:
                raise ValueError(
                    f"input_size {self.input_size} is not a multiple of {name}'s output stride "
                    f"{backbone.output_stride}"
                )
        return self

    def with_input_size(self, input_size: int) -> ModelConfig:
        """Return a copy with another input size (validated)."""
        return ModelConfig.model_validate({**self.model_dump(), "input_size": input_size})


def load_model_config(path: Path | str | None = None) -> ModelConfig:
    """Load and validate a model config YAML file; ``None`` loads the shipped default.

    Raises:
        ConfigError: if the file is missing, is not YAML, or fails validation; the message names the key.
    """
    path = Path(path) if path is not None else DEFAULT_MODEL_CONFIG_PATH
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"model config {path} does not exist; pass an existing YAML file") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"model config {path} is not valid YAML: {exc}") from exc
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"model config {path} is invalid: {problems}") from exc
