import numpy as np
import pytest

from pipeline.errors import ConfigError
from pipeline.models.classes import CLASS_NAMES, CONDITIONS
from pipeline.world.art import display_size
from pipeline.world.render import Renderer
from pipeline.world.scene import LANES, Scene, SceneObject, make_scene


def _render(seed: int, condition: str = "day", t: float = 1.0, size: tuple[int, int] = (160, 160)):
    return Renderer(make_scene(seed, duration_s=10), *size).render(t, condition, frame_index=3)


def test_render_same_seed_identical_frames():
    for condition in CONDITIONS:
        a, b = _render(7, condition), _render(7, condition)
        assert np.array_equal(a.image, b.image)
        assert a.boxes == b.boxes


def test_render_different_seed_differs():
    assert not np.array_equal(_render(1).image, _render(2).image)


def test_render_boxes_cover_pixels_that_differ_from_background():
    scene = make_scene(3, duration_s=10, crowd=6)
    empty = Renderer(Scene(scene.seed, (), scene.ir_night), 320, 180).render(2.0, "day")
    frame = Renderer(scene, 320, 180).render(2.0, "day")
    assert frame.boxes
    for box in frame.boxes:
        x1, y1, x2, y2 = (int(c) for c in box.xyxy())
        assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 180
        changed = np.any(frame.image[y1:y2, x1:x2] != empty.image[y1:y2, x1:x2], axis=-1)
        assert changed.mean() > 0.05, box


def _single(name: str, lane: int) -> Scene:
    obj = SceneObject(
        CLASS_NAMES.index(name),
        lane,
        LANES[lane].ground,
        LANES[lane].scale,
        0.0,
        0.3,
        0.0,
        ((0.8, 0.2, 0.2), (0.2, 0.2, 0.8), (0.9, 0.7, 0.6)),
    )
    return Scene(0, (obj,), False)


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_render_every_class_day_draws_one_labelled_box(name):
    lane = 0 if name == "bird" else 4
    frame = Renderer(_single(name, lane), 320, 180).render(0.0, "day")
    assert [b.class_name for b in frame.boxes] == [name]
    x1, y1, x2, y2 = (int(c) for c in frame.boxes[0].xyxy())
    assert frame.image[y1:y2, x1:x2].std() > 5


def test_render_sizes_ordered_plausibly():
    area = {n: display_size(n)[0] * display_size(n)[1] for n in CLASS_NAMES}
    assert area["bus"] > area["car"] > area["dog"] > area["cat"]
    width, height = display_size("person")
    assert height > 2.5 * width


def test_render_conditions_brightness_day_gt_dusk_gt_night():
    for seed in range(4):
        means = {c: _render(seed, c).image.mean() for c in CONDITIONS}
        assert means["day"] > means["dusk"] > means["night"], means


def test_render_ir_night_is_grey():
    scene = make_scene(4, duration_s=10, ir_night=True)
    image = Renderer(scene, 160, 160).render(1.0, "night").image.astype(int)
    assert np.abs(image[..., 0] - image[..., 1]).max() == 0


def test_render_colour_night_has_sensor_noise():
    scene = make_scene(4, duration_s=10, ir_night=False)
    renderer = Renderer(scene, 160, 160)
    a, b = renderer.render(1.0, "night", 1).image, renderer.render(1.0, "night", 2).image
    assert not np.array_equal(a, b)


def test_render_object_out_of_frame_no_box():
    scene = _single("car", 3)
    moving = Scene(
        0,
        (
            SceneObject(
                *(scene.objects[0].__dict__[k] for k in ("class_id", "lane", "ground", "scale", "t0")),
                -2.0,
                0.0,
                scene.objects[0].colours,
            ),
        ),
        False,
    )
    assert Renderer(moving, 160, 160).render(0.0, "day").boxes == ()


def test_render_unknown_condition_config_error():
    with pytest.raises(ConfigError, match="unknown condition"):
        _render(1, "noon")


def test_render_object_fully_behind_bus_no_box():
    colours = ((0.8, 0.2, 0.2), (0.2, 0.2, 0.8), (0.9, 0.7, 0.6))
    bus = SceneObject(CLASS_NAMES.index("bus"), 3, LANES[3].ground, LANES[3].scale, 0.0, 0.1, 0.0, colours)
    cat = SceneObject(CLASS_NAMES.index("cat"), 2, LANES[2].ground, LANES[2].scale, 0.0, 0.3, 0.0, colours)
    frame = Renderer(Scene(0, (cat, bus), False), 320, 180).render(0.0, "day")
    assert [b.class_name for b in frame.boxes] == ["bus"]
