from pipeline.models import load_model_config
from pipeline.train.checkpoint import weights_path
from pipeline.train.demo import demo_key, ensure_demo_weights
from pipeline.train.trainer import TrainSettings

CONFIG = load_model_config().with_input_size(64)
TINY = TrainSettings(steps=1, batch_size=3)


def test_demo_key_changes_with_config_and_settings() -> None:
    key = demo_key(CONFIG, TINY, images=12)
    assert key == demo_key(CONFIG, TINY, images=12)
    assert key != demo_key(CONFIG.with_input_size(96), TINY, images=12)
    assert key != demo_key(CONFIG, TrainSettings(steps=2, batch_size=3), images=12)


def test_ensure_demo_weights_missing_cache_trains_then_reuses(tmp_path) -> None:
    folder = ensure_demo_weights(
        CONFIG, ["monolith"], cache_dir=tmp_path, settings=TINY, images=12, progress=False
    )
    path = weights_path(folder, "monolith")
    assert path.is_file()
    stamp = path.stat().st_mtime_ns
    again = ensure_demo_weights(
        CONFIG, ["monolith"], cache_dir=tmp_path, settings=TINY, images=12, progress=False
    )
    assert again == folder and path.stat().st_mtime_ns == stamp
