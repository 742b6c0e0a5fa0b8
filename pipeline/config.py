"""The pipeline config tree (``cameras.yaml``): cameras, design, scheduler, events, Triton, Redis, Ray.

Validated once at start-up with pydantic; errors name the key path and the line in the file. Nothing here
reads the environment at import time: camera credentials and the Redis password are resolved by the entry
point (:meth:`CameraConfig.resolved_url`, :meth:`RedisConfig.password_from_env`).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import ConfigError
from pipeline.events.config import CameraEventsConfig, EventsConfig, RedisConfig
from pipeline.models.designs import DESIGNS
from pipeline.scheduler.config import SchedulerConfig

Condition = Literal["day", "dusk", "night"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocationConfig(_Strict):
    """Where a camera is, for the sun-position scheduler."""

    latitude: float = Field(..., ge=-90, le=90, description="Degrees north.")
    longitude: float = Field(..., ge=-180, le=180, description="Degrees east.")
    timezone: str = Field("UTC", description="IANA time zone name, e.g. Europe/London.")


class SecretConfig(_Strict):
    """Where a secret's value lives: an environment variable or the first line of a file (never here)."""

    env: str | None = Field(None, min_length=1, description="Environment variable holding the value.")
    file: Path | None = Field(None, description="File whose first line is the value.")

    @model_validator(mode="after")
    def _one_source(self) -> SecretConfig:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    def read(self) -> str:
        """The value, read now (in the process that needs it).

        Raises:
            ConfigError: if the variable is unset or the file cannot be read.
        """
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"secret variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            return self.file.read_text().splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise ConfigError(f"cannot read secret file {self.file}: {exc}") from exc


class CredentialsConfig(_Strict):
    """Camera login: the password comes from a named secret, the environment or a file, never the config."""

    username: str = Field("", description="User name (not secret).")
    secret: str | None = Field(
        None, description="Name of an entry of the config's secrets (the only source POST /cameras may use)."
    )
    password_env: str | None = Field(None, description="Environment variable holding the password.")
    password_file: Path | None = Field(None, description="File holding the password (first line).")

    @model_validator(mode="after")
    def _one_source(self) -> CredentialsConfig:
        if sum(x is not None for x in (self.secret, self.password_env, self.password_file)) > 1:
            raise ValueError("give one of secret, password_env or password_file")
        return self

    def password(self, secrets: Mapping[str, SecretConfig]) -> str:
        """Read the password from its source (empty when it has none).

        Raises:
            ConfigError: if the secret is unknown, the variable unset or the file unreadable.
        """
        if self.secret is not None:
            named = secrets.get(self.secret)
            if named is None:
                raise ConfigError(
                    f"unknown secret {self.secret!r}; the config names: {', '.join(secrets) or 'none'}"
                )
            return named.read()
        if self.password_env is not None:
            return SecretConfig(env=self.password_env).read()
        if self.password_file is not None:
            return SecretConfig(file=self.password_file).read()
        return ""


class CameraConfig(_Strict):
    """One camera stream."""

    id: str = Field(..., pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Unique camera id (used in events).")
    url: str = Field(..., min_length=1, description="rtsp://, http(s)://, tcp:// URL or a file path.")
    fps: float = Field(10.0, gt=0, le=120, description="Frames per second sent to inference.")
    decode_width: int | None = Field(
        None,
        gt=0,
        le=7680,
        description="Width the stream is known to have (for box scaling); None = read it.",
    )
    decode_height: int | None = Field(None, gt=0, le=4320, description="Height, like decode_width.")
    condition: Condition | None = Field(
        None, description="Fixed lighting condition; None = scheduler decides."
    )
    location: LocationConfig | None = Field(None, description="For the time_of_day policy.")
    credentials: CredentialsConfig | None = Field(None, description="Login for the camera.")
    rtsp_transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport.")
    loop: bool | None = Field(
        None, description="Loop a file and pace it in real time like a live camera; None = yes for files."
    )
    open_timeout_s: float = Field(5.0, gt=0, le=120, description="Timeout to open the stream, seconds.")
    read_timeout_s: float = Field(5.0, gt=0, le=120, description="Timeout of one read, seconds.")
    max_lag_s: float | None = Field(
        1.0,
        gt=0,
        le=600,
        description="A network stream read this many seconds behind the camera skips to the next "
        "keyframe near live (counted as skipped_to_live); null: never skip.",
    )
    events: CameraEventsConfig = Field(default_factory=CameraEventsConfig, description="Zones and filters.")

    def resolved_url(self, secrets: Mapping[str, SecretConfig]) -> str:
        """The URL with credentials filled in (never log this; log ``url``).

        Raises:
            ConfigError: if the password cannot be read.
        """
        if self.credentials is None:
            return self.url
        parts = urlsplit(self.url)
        user = quote(self.credentials.username, safe="")
        password = quote(self.credentials.password(secrets), safe="")
        login = f"{user}:{password}@" if password else f"{user}@"
        host = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit(parts._replace(netloc=login + host))


class TritonConfig(_Strict):
    """The model servers: embedded (started by camfleet) or running ones, balanced by the workers."""

    urls: list[str] = Field(
        default_factory=list,
        description="gRPC host:port of each running Triton; one DNS name (a Kubernetes headless Service) is "
        "resolved to every address behind it and re-resolved while running. Empty starts the embedded one.",
    )
    model_repository: Path = Field(Path("triton_models"), description="Repository for the embedded server.")
    model_config_name: str | None = Field(None, description="Per-hardware config, e.g. gpu.")
    inference_cores: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="Cores the embedded server's CPU models may use (instances x torch threads per model); "
        "None: this machine's cores less the cameras' decode share.",
    )
    shared_memory: bool | None = Field(
        None,
        description="Pass frames through system shared memory; None = when the server is on the worker's "
        "host (detected, and dropped for gRPC payloads if the server cannot open the region).",
    )
    timeout_s: float = Field(10.0, gt=0, le=600, description="Per-request timeout.")
    health_interval_s: float = Field(
        1.0, gt=0, le=60, description="How often each worker checks every server's readiness."
    )

    @field_validator("urls")
    @classmethod
    def _host_port(cls, urls: list[str]) -> list[str]:
        for url in urls:
            host, _, port = url.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{url!r} is not host:port (e.g. 127.0.0.1:8001)")
        if len(set(urls)) != len(urls):
            raise ValueError("a Triton URL appears twice")
        return urls


class BatchingConfig(_Strict):
    """How a worker groups its cameras' frames into Triton requests, per model.

    The latency budget drives both the batch size and the requests in flight (see
    :mod:`pipeline.batching.batcher`); ``max_batch`` and ``max_in_flight`` are only caps.
    """

    latency_budget_s: float = Field(
        0.2,
        gt=0.005,
        le=10.0,
        description="Target time from a frame reaching the batcher to its detections: each model's batch "
        "is the largest whose service time on the server (Triton's execution statistics) fits half of it, "
        "and requests in flight grow while "
        "answers do not queue at the server (AIMD). When a model is behind, the oldest frames of a stream "
        "are dropped first (counted per camera as dropped_late).",
    )
    window_s: float = Field(
        0.05,
        ge=0,
        le=1.0,
        description="Longest a frame waits for others to share its request (a full batch goes at once).",
    )
    max_batch: int = Field(32, ge=1, le=1024, description="Most frames in one request (a cap).")
    max_in_flight: int = Field(
        4,
        ge=1,
        le=64,
        description="Most requests one worker keeps in flight per model (a cap; the model's instances on "
        "the servers, read from Triton, bound it too: a request beyond them only waits there).",
    )
    max_frame_age_s: float = Field(
        1.0,
        gt=0.05,
        le=60,
        description="Frames older than this since capture when their request goes out are dropped "
        "(counted per camera as dropped_late): a live camera wants its newest frame.",
    )

    @model_validator(mode="after")
    def _age_exceeds_window(self) -> BatchingConfig:
        if self.max_frame_age_s <= self.window_s:
            raise ValueError("max_frame_age_s must exceed window_s")
        if self.window_s >= self.latency_budget_s / 2:
            raise ValueError("window_s must be below half of latency_budget_s (the rest is for service)")
        return self


class RayConfig(_Strict):
    """Where Ray runs, and how cameras are spread over camera workers."""

    address: str | None = Field(None, description="Address of a Ray cluster; None starts a local one.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs for a local Ray; None = all.")
    object_store_mb: int = Field(256, ge=64, description="Object store size of a local Ray, MB.")
    cameras_per_worker: int = Field(
        8, ge=1, le=256, description="Cameras one camera worker decodes, batches and tracks."
    )
    worker_cpus: float = Field(
        0.0,
        ge=0,
        le=64,
        description=(
            "CPUs each camera worker reserves. 0 packs any number of workers on a small machine; on a "
            "cluster set it so the Ray autoscaler adds nodes as cameras are added."
        ),
    )
    health_interval_s: float = Field(1.0, gt=0, le=60, description="How often the controller pings workers.")
    ping_timeout_s: float = Field(
        3.0, gt=0, le=120, description="A worker that does not answer a ping within this is replaced."
    )


class ControlConfig(_Strict):
    """The REST control plane, and what a camera added through it may be."""

    enabled: bool = Field(True, description="Serve the control API.")
    host: str = Field("127.0.0.1", description="Bind address; anything but loopback requires a token.")
    port: int = Field(0, ge=0, le=65535, description="Port; 0 picks a free one.")
    token_env: str = Field("CAMFLEET_CONTROL_TOKEN", description="Variable holding the API token.")
    camera_schemes: list[str] = Field(
        default_factory=lambda: ["rtsp", "rtsps"],
        description="URL schemes POST /cameras accepts.",
    )
    camera_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (names, addresses or CIDR networks) POST /cameras may point at; empty: any host "
        "but this machine's loopback, link-local, multicast and unspecified addresses.",
    )
    camera_files: bool = Field(False, description="Let POST /cameras open local files (tests, demos).")
    max_body_bytes: int = Field(16_384, ge=256, le=1_048_576, description="Largest request body accepted.")
    changes_per_minute: int = Field(
        60, ge=1, le=100_000, description="Changes (POST, PUT, DELETE) accepted per client per minute."
    )

    @field_validator("camera_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if "/" in host:
                try:
                    ipaddress.ip_network(host, strict=False)
                except ValueError as exc:
                    raise ValueError(f"{host!r} is not a CIDR network: {exc}") from None
        return hosts


class PipelineConfig(_Strict):
    """The whole ``cameras.yaml``."""

    design: str = Field("monolith", description="Network design to serve (camfleet models designs).")
    model_config_path: Path | None = Field(
        None, alias="model_config", description="Model-size YAML; None = the shipped default."
    )
    cameras: list[CameraConfig] = Field(default_factory=list, description="Camera streams.")
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig, description="Per-stream policy.")
    events: EventsConfig = Field(default_factory=EventsConfig, description="Tracking and events.")
    redis: RedisConfig = Field(default_factory=RedisConfig, description="Event sink.")
    triton: TritonConfig = Field(default_factory=TritonConfig, description="Model servers.")
    batching: BatchingConfig = Field(default_factory=BatchingConfig, description="Requests per model.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Compute.")
    control: ControlConfig = Field(default_factory=ControlConfig, description="REST control plane.")
    secrets: dict[str, SecretConfig] = Field(
        default_factory=dict,
        description="Named secrets (where each value lives, never the value) that cameras may name.",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("design")
    @classmethod
    def _known_design(cls, design: str) -> str:
        if design not in DESIGNS:
            raise ValueError(f"unknown design {design!r}; choose one of {', '.join(DESIGNS)}")
        return design

    @model_validator(mode="after")
    def _unique_camera_ids(self) -> PipelineConfig:
        seen: set[str] = set()
        for camera in self.cameras:
            if camera.id in seen:
                raise ValueError(f"camera id {camera.id!r} appears twice")
            seen.add(camera.id)
            secret = camera.credentials.secret if camera.credentials else None
            if secret is not None and secret not in self.secrets:
                raise ValueError(f"camera {camera.id!r} names secret {secret!r}, which is not in secrets")
        return self


def _key_lines(node: yaml.Node, path: tuple[str | int, ...] = ()) -> dict[tuple[str | int, ...], int]:
    """Map every key path in a composed YAML document to its 1-based line."""
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines.update(_key_lines(value, (*path, key.value)))
            lines[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_key_lines(item, (*path, index)))
    return lines


def _locate(
    loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]
) -> tuple[tuple[str | int, ...], int | None]:
    """The key path as written in the file, and its line.

    pydantic puts the tag of a discriminated union (``brightness``) into the error's path although the file
    has no such key; parts the file does not have are dropped, except a last one (a missing required key).
    """
    path: tuple[str | int, ...] = ()
    for index, part in enumerate(loc):
        if (*path, part) in lines or index == len(loc) - 1:
            path = (*path, part)
    for end in range(len(path), -1, -1):  # deepest key that exists in the file
        if path[:end] in lines:
            return path, lines[path[:end]]
    return path, None


def _key_text(part: str | int) -> str:
    """A key as it reads in an error line: quoted when it holds spaces or control characters."""
    text = str(part)
    return text if text.isprintable() and " " not in text and text else repr(text)


def load_config(path: Path | str) -> PipelineConfig:
    """Load and validate ``cameras.yaml``.

    Raises:
        ConfigError: with the key path and line of every problem.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(
            f"cannot read config {path}: {exc.strerror}; pass an existing cameras.yaml"
        ) from exc
    try:
        node = yaml.compose(text)
        data: Any = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    lines = _key_lines(node) if node is not None else {}
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key_path, line = _locate(tuple(error["loc"]), lines)
            where = ".".join(_key_text(part) for part in key_path) or "<root>"
            problems.append(f"  {path}:{line or '?'}: {where}: {error['msg']}")
        raise ConfigError(f"{path} is invalid:\n" + "\n".join(problems)) from exc
