"""What a camera worker needs to know, resolved once by the controller and sent when the worker starts.

Secrets do not travel here: the worker reads the Redis password from its own environment, and resolves a
camera's credentials itself when it opens the stream.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.config import BatchingConfig, PipelineConfig, SecretConfig, TritonConfig
from pipeline.events.config import EventsConfig, RedisConfig
from pipeline.scheduler.config import SchedulerConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    """Everything but the cameras: design, model input, scheduler, batching, Triton and Redis endpoints.

    Attributes:
        design: The design served.
        input_size: Model input size; frames are resized to it.
        scheduler: Policy and motion gate.
        events: Tracking and event settings.
        batching: Micro-batching per model.
        triton: Timeouts, shared memory and health settings.
        triton_urls: ``host:port`` (or names to resolve) of every Triton server.
        redis: Sink settings.
        redis_url: Where events go.
        secrets: The named secrets cameras may refer to: where each value lives, never the value.
    """

    design: str
    input_size: int
    scheduler: SchedulerConfig
    events: EventsConfig
    batching: BatchingConfig
    triton: TritonConfig
    triton_urls: tuple[str, ...]
    redis: RedisConfig
    redis_url: str
    secrets: dict[str, SecretConfig]

    @classmethod
    def from_config(
        cls, config: PipelineConfig, *, input_size: int, triton_urls: list[str], redis_url: str
    ) -> WorkerSettings:
        """The settings of ``config``'s workers, with the endpoints the services resolved."""
        return cls(
            design=config.design,
            input_size=input_size,
            scheduler=config.scheduler,
            events=config.events,
            batching=config.batching,
            triton=config.triton,
            triton_urls=tuple(triton_urls),
            redis=config.redis,
            redis_url=redis_url,
            secrets=dict(config.secrets),
        )
