"""The versioned JSON event that camfleet publishes, and its JSON Schema.

Consumers key on ``schema_version``: a change that removes or renames a field bumps it. Delivery is
at-least-once (a write retried after a dropped connection may land twice), so each event carries a unique
``event_id`` to de-duplicate on.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Literal[1] = 1
"""Version of the event schema that this module writes."""

SCHEMA_ID = "https://camfleet.dev/schemas/event-v1.json"
"""``$id`` of the exported JSON Schema."""

Box = tuple[float, float, float, float]


class EventType(str, Enum):
    """What happened to a tracked object."""

    ENTERED = "object_entered"
    """A track was confirmed: the object is in view (inside a zone when the camera filters by zone)."""
    SEEN = "object_seen"
    """The object is still in view; sent every ``seen_interval_s``."""
    LEFT = "object_left"
    """The track was not seen for ``lost_timeout_s``, or the camera stopped."""


def _new_event_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    """One detection event of one tracked object on one camera."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="CamfleetEvent")

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, description="Event schema version.")
    event_id: str = Field(
        default_factory=_new_event_id, min_length=1, description="Unique id, for de-duplication."
    )
    type: EventType = Field(description="object_entered, object_seen or object_left.")
    camera_id: str = Field(min_length=1, description="Camera that saw the object.")
    class_name: str = Field(min_length=1, description="Detected class, e.g. `person`, `car`.")
    class_id: int = Field(ge=0, description="Index of the class in camfleet's class list.")
    box: Box = Field(description="x1, y1, x2, y2 in source-frame pixels.")
    score: float = Field(ge=0.0, le=1.0, description="Detection score of the latest observation.")
    track_id: int = Field(ge=1, description="Track id, unique per camera while the pipeline runs.")
    model: str = Field(min_length=1, description="Model (Triton name) that produced the detection.")
    frame_time: AwareDatetime = Field(description="Wall-clock capture time of the frame (ISO 8601, UTC).")
    latency_ms: float | None = Field(
        default=None,
        ge=0.0,
        description="Capture-to-publish latency; set by the sink when the event is written to Redis.",
    )
    zones: tuple[str, ...] = Field(default=(), description="Zones the object's bottom-centre point is in.")

    def to_json(self) -> str:
        """Serialise to a compact JSON string."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> Event:
        """Parse and validate an event from JSON.

        Raises:
            pydantic.ValidationError: if ``data`` is not a valid event of this schema version.
        """
        return cls.model_validate_json(data)

    def stamped(self, published_at: float) -> Event:
        """Return a copy with ``latency_ms`` measured from capture to ``published_at`` (epoch seconds)."""
        latency = max(0.0, (published_at - self.frame_time.timestamp()) * 1000.0)
        return self.model_copy(update={"latency_ms": round(latency, 3)})


def frame_datetime(epoch_s: float) -> datetime:
    """Return an aware UTC datetime for a wall-clock capture time in epoch seconds."""
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc)


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of :class:`Event`."""
    schema = Event.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def json_schema_text() -> str:
    """Return :func:`json_schema` as indented JSON text (what ``camfleet events schema`` prints)."""
    return json.dumps(json_schema(), indent=2, sort_keys=False)
