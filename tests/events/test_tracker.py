import numpy as np
import pytest
import supervision as sv

from pipeline.events.config import CameraEventsConfig, EventsConfig, ZoneConfig
from pipeline.events.decode import decode_detections
from pipeline.events.schema import Event, EventType
from pipeline.events.tracker import CameraTracker

FPS = 10.0
FRAME = (640, 480)
T0 = 1_700_000_000.0
CONFIG = EventsConfig(seen_interval_s=1.0, lost_timeout_s=1.0, confirm_frames=3)


def person(x: float, y: float = 200.0, w: float = 60.0, h: float = 120.0, class_id: int = 0) -> list[float]:
    return [x, y, x + w, y + h, 0.9, float(class_id)]


def detections(*rows: list[float]) -> sv.Detections:
    array = np.zeros((8, 6), dtype=np.float32)  # fixed K with zero-score padding, like the model
    if rows:
        array[: len(rows)] = np.asarray(rows, dtype=np.float32)
    return decode_detections(array, input_size=FRAME, frame_size=FRAME, score_threshold=0.1)


def run(tracker: CameraTracker, frames: list[sv.Detections]) -> list[Event]:
    events: list[Event] = []
    for i, dets in enumerate(frames):
        events += tracker.update(dets, frame_time=T0 + i / FPS, frame_size=FRAME)
    return events


def test_tracker_moving_object_yields_entered_periodic_seen_and_one_left() -> None:
    tracker = CameraTracker("cam1", model="monolith", fps=FPS, events=CONFIG)
    visible = [detections(person(20.0 + 5 * i)) for i in range(35)]  # 3.5 s in view
    gone = [detections() for _ in range(20)]  # 2 s empty
    events = run(tracker, visible + gone)

    kinds = [e.type for e in events]
    assert kinds.count(EventType.ENTERED) == 1
    assert kinds.count(EventType.LEFT) == 1
    assert kinds[0] is EventType.ENTERED and kinds[-1] is EventType.LEFT
    assert kinds.count(EventType.SEEN) == 3  # at +1 s, +2 s, +3 s after entering
    assert len({e.track_id for e in events}) == 1
    assert all(e.class_name == "person" and e.camera_id == "cam1" for e in events)
    entered = events[0]
    # ByteTrack confirms after confirm_frames matched frames following the first one: frame 3.
    assert entered.frame_time.timestamp() == pytest.approx(T0 + 3 / FPS, abs=1e-3)
    assert entered.box[0] == pytest.approx(35.0, abs=2.0)
    seen_times = [e.frame_time.timestamp() - entered.frame_time.timestamp() for e in events[1:-1]]
    assert seen_times == pytest.approx([1.0, 2.0, 3.0], abs=0.11)
    left = events[-1]
    assert left.frame_time.timestamp() - (T0 + 34 / FPS) == pytest.approx(1.0, abs=0.11)
    assert left.box[0] == pytest.approx(20.0 + 5 * 34, abs=3.0)
    assert tracker.active_tracks == 0


def test_tracker_short_flicker_below_confirm_frames_yields_no_event() -> None:
    tracker = CameraTracker("cam1", model="m", fps=FPS, events=CONFIG)
    flicker = [detections(person(100.0 + 2 * i)) for i in range(3)]
    events = run(tracker, flicker + [detections()] * 20)
    assert events == []


def test_tracker_close_emits_left_for_active_tracks() -> None:
    tracker = CameraTracker("cam1", model="m", fps=FPS, events=CONFIG)
    events = run(tracker, [detections(person(20.0), person(400.0, class_id=4)) for _ in range(5)])
    assert [e.type for e in events] == [EventType.ENTERED, EventType.ENTERED]
    left = tracker.close()
    assert sorted(e.class_name for e in left) == ["car", "person"]
    assert all(e.type is EventType.LEFT for e in left)
    assert tracker.active_tracks == 0
    assert tracker.close() == []


LEFT_HALF = ZoneConfig(name="driveway", polygon=[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])


def test_tracker_only_in_zones_ignores_objects_outside_zones() -> None:
    camera = CameraEventsConfig(zones=[LEFT_HALF], only_in_zones=True)
    tracker = CameraTracker("cam1", model="m", fps=FPS, events=CONFIG, camera=camera)
    events = run(tracker, [detections(person(50.0), person(500.0, class_id=4)) for _ in range(5)])
    assert [(e.type, e.class_name, e.zones) for e in events] == [(EventType.ENTERED, "person", ("driveway",))]


def test_tracker_only_in_zones_object_leaving_zone_yields_left() -> None:
    camera = CameraEventsConfig(zones=[LEFT_HALF], only_in_zones=True)
    tracker = CameraTracker("cam1", model="m", fps=FPS, events=CONFIG, camera=camera)
    # Walks right at 20 px per frame: its bottom-centre crosses x = 320 after ~14 frames.
    events = run(tracker, [detections(person(20.0 + 20 * i)) for i in range(40)])
    assert [e.type for e in events if e.type is not EventType.SEEN] == [EventType.ENTERED, EventType.LEFT]


def test_tracker_zones_without_filter_tag_events() -> None:
    camera = CameraEventsConfig(zones=[LEFT_HALF])
    tracker = CameraTracker("cam1", model="m", fps=FPS, events=CONFIG, camera=camera)
    events = run(tracker, [detections(person(50.0), person(500.0, class_id=4)) for _ in range(5)])
    assert sorted((e.class_name, e.zones) for e in events) == [("car", ()), ("person", ("driveway",))]


def test_tracker_nonpositive_fps_raises_value_error() -> None:
    with pytest.raises(ValueError, match="fps"):
        CameraTracker("cam1", model="m", fps=0)
