"""Property-based tests: no request body crashes the control plane, and every rejection names the key."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Plane

_KEYS = [
    "id",
    "url",
    "fps",
    "condition",
    "credentials",
    "events",
    "location",
    "loop",
    "type",
    "base",
    "colour",
]
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
_BODIES = st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=6) | _JSON
_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _named(body: Any) -> bool:
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict) and detail.get("errors"):
        return all(error["field"] and error["field"] in detail["message"] for error in detail["errors"])
    return isinstance(detail, (dict, str)) or "message" in body


@_SETTINGS
@given(body=_BODIES)
def test_post_cameras_any_json_body_is_answered_never_a_server_error(plane: Plane, body: Any) -> None:
    response = plane.http.post(f"{plane.url}/cameras", json=body, timeout=60)
    assert response.status_code in (201, 403, 409, 413, 422), response.text
    if response.status_code == 201:  # a random body that is a valid, admissible camera: take it away again
        camera_id = response.headers["Location"].rsplit("/", 1)[1]
        assert plane.http.delete(f"{plane.url}/cameras/{camera_id}", timeout=30).status_code == 200
    else:
        assert _named(response.json())


@_SETTINGS
@given(body=_BODIES)
def test_put_policy_any_json_body_is_answered_never_a_server_error(plane: Plane, body: Any) -> None:
    response = plane.http.put(f"{plane.url}/policy", json=body, timeout=60)
    assert response.status_code in (200, 413, 422), response.text
    if response.status_code == 422:
        assert _named(response.json())


@_SETTINGS
@given(raw=st.binary(max_size=300))
def test_post_cameras_any_bytes_are_answered_never_a_server_error(plane: Plane, raw: bytes) -> None:
    response = plane.http.post(f"{plane.url}/cameras", data=raw, timeout=60)
    assert response.status_code in (201, 403, 409, 413, 422), response.text
