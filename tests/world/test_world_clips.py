import json

import av
import numpy as np
import pytest

from pipeline.errors import ConfigError, StreamError
from pipeline.world.clips import Schedule, iter_clip_frames, load_labels, write_clip
from pipeline.world.relay import load_packets


def test_clip_night_decodes_to_expected_frames_and_size(short_clip):
    frames = list(iter_clip_frames(short_clip.path))
    assert len(frames) == short_clip.frames == 30
    assert frames[0].shape == (96, 160, 3) and frames[0].dtype == np.uint8
    with av.open(str(short_clip.path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        keys = [p.pts * p.time_base for p in container.demux(stream) if p.is_keyframe]
    assert len(keys) == 3 and max(np.diff([float(k) for k in keys])) <= 1.0


def test_clip_labels_match_frames(short_clip):
    labels = load_labels(short_clip.path)
    assert labels["fps"] == 10 and labels["size"] == [160, 96] and labels["condition"] == "night"
    assert len(labels["frames"]) == 30
    for record in labels["frames"]:
        assert len(record["boxes"]) == len(record["class_ids"]) == len(record["classes"])
        for x1, y1, x2, y2 in record["boxes"]:
            assert 0 <= x1 < x2 <= 160 and 0 <= y1 < y2 <= 96


def test_clip_same_seed_identical_labels(tmp_path):
    a = write_clip(tmp_path / "a.mp4", seconds=1, size=(64, 48), seed=3)
    b = write_clip(tmp_path / "b.mp4", seconds=1, size=(64, 48), seed=3)
    assert load_labels(a.path)["frames"] == load_labels(b.path)["frames"]
    assert [f.tobytes() for f in iter_clip_frames(a.path)] == [f.tobytes() for f in iter_clip_frames(b.path)]


def test_clip_schedule_cycle_changes_condition(tmp_path):
    info = write_clip(tmp_path / "c.mp4", seconds=3, size=(64, 48), fps=4, schedule=Schedule.cycle(3))
    assert info.conditions == ("day", "dusk", "night")
    conditions = [f["condition"] for f in load_labels(info.path)["frames"]]
    assert conditions[0] == "day" and conditions[-1] == "night"


def test_clip_odd_size_config_error(tmp_path):
    with pytest.raises(ConfigError, match="even"):
        write_clip(tmp_path / "x.mp4", seconds=1, size=(65, 48))


def test_clip_missing_file_stream_error(tmp_path):
    with pytest.raises(StreamError, match="does not exist"):
        list(iter_clip_frames(tmp_path / "nope.mp4"))
    with pytest.raises(StreamError, match="does not exist"):
        load_packets(tmp_path / "nope.mp4")
    with pytest.raises(StreamError, match="no labels"):
        load_labels(tmp_path / "nope.mp4")


def test_clip_corrupt_file_stream_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    with pytest.raises(StreamError, match="corrupt"):
        list(iter_clip_frames(bad))
    with pytest.raises(StreamError):
        load_packets(bad)
    (tmp_path / "bad.mp4.labels.json").write_text("{not json")
    with pytest.raises(StreamError, match="not valid JSON"):
        load_labels(bad)


def test_clip_labels_file_is_plain_json(short_clip):
    data = json.loads(short_clip.labels_path.read_text())
    assert data["class_names"][0] == "person" and len(data["class_names"]) == 20
