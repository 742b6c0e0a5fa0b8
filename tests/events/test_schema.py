import json
from collections.abc import Callable
from datetime import datetime

import pydantic
import pytest

from pipeline.events.schema import SCHEMA_ID, Event, EventType, frame_datetime, json_schema, json_schema_text

MakeEvent = Callable[..., Event]


def test_event_json_round_trip_equal(make_event: MakeEvent) -> None:
    event = make_event(3, kind=EventType.ENTERED, zones=("driveway", "porch")).stamped(1e10)
    again = Event.from_json(event.to_json())
    assert again == event
    data = json.loads(event.to_json())
    assert data["type"] == "object_entered"
    assert data["schema_version"] == 1
    assert datetime.fromisoformat(data["frame_time"]).tzinfo is not None


def test_event_stamped_latency_from_capture(make_event: MakeEvent) -> None:
    event = make_event(0)
    stamped = event.stamped(event.frame_time.timestamp() + 0.25)
    assert stamped.latency_ms == pytest.approx(250.0, abs=0.01)
    assert event.latency_ms is None


def test_event_unknown_field_or_version_rejected(make_event: MakeEvent) -> None:
    data = json.loads(make_event(0).to_json())
    with pytest.raises(pydantic.ValidationError):
        Event.from_json(json.dumps({**data, "extra": 1}))
    with pytest.raises(pydantic.ValidationError):
        Event.from_json(json.dumps({**data, "schema_version": 2}))
    with pytest.raises(pydantic.ValidationError):
        Event.from_json(json.dumps({**data, "frame_time": "2026-01-01T00:00:00"}))  # naive time


def test_json_schema_valid_and_accepts_events(make_event: MakeEvent) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == SCHEMA_ID
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(json.loads(make_event(0).to_json()))
    validator.validate(json.loads(make_event(1).stamped(1e10).to_json()))
    bad = {**json.loads(make_event(0).to_json()), "type": "object_teleported"}
    assert not validator.is_valid(bad)
    assert json.loads(json_schema_text()) == schema


def test_frame_datetime_is_utc() -> None:
    assert frame_datetime(0.0).isoformat() == "1970-01-01T00:00:00+00:00"
