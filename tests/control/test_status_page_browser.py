"""The status page (``GET /``) in a real headless Chromium, as an operator's browser shows it.

The page is served by the real control plane in front of a real controller: one camera streams a clip (it
runs, its fps and counts grow), one points at a port nobody listens on (it backs off with its error). The
browser is Debian's ``chromium``, driven by Playwright; ``.ci/run`` installs it.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ray
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright
from ray import serve
from system_binaries import require_system_binary

from pipeline.config import ControlConfig, PipelineConfig
from pipeline.control.app import build_control_app
from pipeline.events.redis_server import EmbeddedRedis
from pipeline.serving.launcher import TritonServer
from pipeline.world.clips import write_clip

from .conftest import CONTROL, Plane, camera, controller_for

pytestmark = pytest.mark.timeout(240)

BROWSER_PREFIX = "/browser"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-extensions"]
PAGE_REFRESH_S = 5  # the page's own <meta http-equiv="refresh">


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    require_system_binary(executable is not None, "chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page_url(
    plane: Plane,
    triton_server: TritonServer,
    pipeline_redis: EmbeddedRedis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A token-less plane (loopback only) at BROWSER_PREFIX: camera ``porch`` streams, ``gate`` is dead."""
    clip = tmp_path_factory.mktemp("browser_clip") / "porch.mp4"
    write_clip(clip, condition="day", seconds=6.0, size=(320, 192), fps=10, seed=3)
    config = PipelineConfig.model_validate(
        {"cameras": [{"id": "porch", "url": str(clip), "fps": 5}, camera("gate")], "control": CONTROL}
    )
    controller = controller_for(config, triton_server, pipeline_redis)
    serve.run(
        build_control_app(controller, None, control=ControlConfig(**CONTROL), wait_s=10.0),
        name="browser",
        route_prefix=BROWSER_PREFIX,
    )
    try:
        yield plane.url + BROWSER_PREFIX + "/"
    finally:
        serve.delete("browser")
        ray.get(controller.stop.remote(5.0), timeout=60)
        ray.kill(controller)


def _camera_rows(page: Page) -> dict[str, dict[str, str]]:
    """The cameras table as the browser renders it: camera id -> column title -> cell text."""
    tables = page.locator("table")
    cameras = tables.nth(tables.count() - 1)
    titles = [t.strip() for t in cameras.locator("tr").first.locator("th").all_inner_texts()]
    rows: dict[str, dict[str, str]] = {}
    for row in cameras.locator("tr").all()[1:]:
        cells = [c.strip() for c in row.locator("td").all_inner_texts()]
        rows[cells[0]] = dict(zip(titles, cells, strict=True))
    return rows


def _open_when(page: Page, url: str, ready: object, timeout_s: float = 90.0) -> dict[str, dict[str, str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        page.goto(url, wait_until="load")
        rows = _camera_rows(page)
        if ready(rows):  # type: ignore[operator]
            return rows
        assert time.monotonic() < deadline, f"the page never showed the expected state: {rows}"
        time.sleep(1.0)


def _state(rows: dict[str, dict[str, str]], camera_id: str) -> str | None:
    return rows.get(camera_id, {}).get("state")


def _porch_runs(rows: dict[str, dict[str, str]]) -> bool:
    porch = rows.get("porch", {})
    return porch.get("state") == "running" and porch.get("inferred", "-") not in ("-", "0")


def test_status_page_renders_cameras_with_states_fps_and_errors(browser: Browser, page_url: str) -> None:
    page = browser.new_page()
    rows = _open_when(page, page_url, lambda r: _porch_runs(r) and _state(r, "gate") == "backing_off")
    assert page.title() == "camfleet"
    assert {"camera", "state", "fps", "inferred", "last error"} <= set(rows["porch"])
    assert float(rows["porch"]["fps"]) > 0
    assert rows["gate"]["inferred"] == "0" and rows["gate"]["last error"] not in ("", "-")
    summary = page.locator("table").first.inner_text()
    assert re.search(r"design\s+monolith", summary) and "aggregate fps" in summary


def test_status_page_refreshes_itself_and_the_counts_grow(browser: Browser, page_url: str) -> None:
    page = browser.new_page()
    before = int(_open_when(page, page_url, _porch_runs)["porch"]["inferred"])
    # No reload from the test: the page's own refresh must bring the new figures.
    with page.expect_event("load", timeout=(PAGE_REFRESH_S + 10) * 1000):
        pass
    after = int(_camera_rows(page)["porch"]["inferred"])
    assert after > before


def test_status_page_screenshot_is_a_rendered_page(browser: Browser, page_url: str, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 500})
    _open_when(page, page_url, _porch_runs)
    shot = tmp_path / "status_page.png"
    page.screenshot(path=str(shot), full_page=True)
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.width >= 1400 and image.height >= 200
        pixels = np.asarray(image.convert("L"), dtype=np.float32)
    # A rendered page has text and table borders on a white background: far from one flat colour.
    assert pixels.mean() > 200 and pixels.std() > 10
