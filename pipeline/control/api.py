"""The REST routes of the control plane, as a FastAPI app bound to one control channel.

Bodies are validated here with the config models (:class:`~pipeline.config.CameraConfig`, the
:data:`~pipeline.scheduler.config.PolicyConfig` union) before anything reaches the pipeline. A command is
answered when the pipeline has applied it, or after ``wait_s`` (504). Every route but ``/healthz`` requires
``Authorization: Bearer <token>`` when a token is configured; only the token's SHA-256 is held here.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
from collections.abc import Awaitable
from typing import Annotated, Any

import ray
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, TypeAdapter, ValidationError

from pipeline.config import CameraConfig
from pipeline.control.channel import CommandKind, CommandResult, Outcome, PublishedSnapshot
from pipeline.control.metrics import CONTENT_TYPE, render_metrics
from pipeline.control.status_page import render_status_page
from pipeline.scheduler.config import PolicyConfig

logger = logging.getLogger(__name__)

_CALL_TIMEOUT_S = 5.0
_POLICY: TypeAdapter[PolicyConfig] = TypeAdapter(PolicyConfig)
_STATUS = {
    Outcome.OK: 200,
    Outcome.INVALID: 422,
    Outcome.NOT_FOUND: 404,
    Outcome.CONFLICT: 409,
    Outcome.FAILED: 500,
    Outcome.BUSY: 429,
    Outcome.UNAVAILABLE: 503,
    Outcome.EXPIRED: 504,
    Outcome.TIMEOUT: 504,
}


def token_digest(token: str) -> str:
    """The SHA-256 hex digest the API compares bearer tokens with."""
    return hashlib.sha256(token.encode()).hexdigest()


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (JSON has no NaN; latency is NaN before a frame)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _invalid(what: str, error: ValidationError) -> HTTPException:
    fields = []
    for item in error.errors():
        loc = [str(p) for p in item["loc"] if not str(p).startswith(("function-", "tagged-"))]
        fields.append({"field": ".".join(loc) or "<body>", "message": item["msg"]})
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return HTTPException(422, detail={"message": f"invalid {what}: {summary}", "errors": fields})


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise HTTPException(422, detail={"message": f"body is not JSON: {exc}", "errors": []}) from exc


def build_api(
    channel: Any, *, token_sha256: str | None, wait_s: float = 10.0, healthy_within_s: float = 5.0
) -> FastAPI:
    """Build the control API on ``channel`` (a ControlChannel actor handle).

    Args:
        channel: Handle of the :class:`~pipeline.control.channel.ControlChannel` actor.
        token_sha256: :func:`token_digest` of the API token; None serves without authentication.
        wait_s: How long a command may take before the request answers 504.
        healthy_within_s: ``/healthz`` is 200 while the latest snapshot is younger than this.

    Returns:
        The FastAPI app.
    """

    async def call(ref: Awaitable[Any]) -> Any:
        try:
            return await asyncio.wait_for(_awaited(ref), _CALL_TIMEOUT_S + wait_s)
        except (asyncio.TimeoutError, ray.exceptions.RayError) as exc:
            logger.warning("control channel call failed: %r", exc)
            raise HTTPException(503, detail="control channel unavailable") from exc

    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        if token_sha256 is None:
            return
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token_digest(value.strip()), token_sha256):
            raise HTTPException(
                401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    async def published() -> PublishedSnapshot:
        result: PublishedSnapshot = await call(channel.snapshot.remote())
        return result

    async def command(kind: CommandKind, payload: Any, created: int = 200) -> JSONResponse:
        receipt: CommandResult = await call(channel.submit.remote(kind, payload, wait_s))
        result = receipt
        if receipt.outcome is Outcome.ACCEPTED:
            result = await call(channel.wait_result.remote(receipt.request_id, wait_s))
        status = created if result.outcome is Outcome.OK else _STATUS.get(result.outcome, 500)
        return JSONResponse(
            {"request_id": result.request_id, "outcome": result.outcome.value, "message": result.message},
            status_code=status,
        )

    docs = token_sha256 is None  # the interactive docs cannot send a token: hide them when one is required
    app = FastAPI(
        title="camfleet control",
        version="1",
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    protected = APIRouter(dependencies=[Depends(require_token)])

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        snap = await published()
        fresh = snap.data is not None and snap.age_s is not None and snap.age_s <= healthy_within_s
        body = {
            "status": "ok" if fresh else ("starting" if snap.data is None else "stale"),
            "snapshot_age_s": None if snap.age_s is None else round(snap.age_s, 2),
            "cameras": len(snap.data.get("cameras", [])) if snap.data else 0,
        }
        return JSONResponse(body, status_code=200 if fresh else 503)

    @protected.get("/cameras")
    async def list_cameras() -> JSONResponse:
        snap = await published()
        if snap.data is None:
            raise HTTPException(503, detail="the pipeline has not published a snapshot yet")
        cameras = json_safe(snap.data.get("cameras", []))
        return JSONResponse(
            {"design": snap.data.get("design"), "cameras": cameras, "snapshot_age_s": snap.age_s}
        )

    @protected.post("/cameras")
    async def add_camera(request: Request) -> JSONResponse:
        try:
            camera = CameraConfig.model_validate(await _body(request))
        except ValidationError as exc:
            raise _invalid("camera", exc) from None
        response = await command(CommandKind.ADD_CAMERA, camera.model_dump(mode="json"), created=201)
        if response.status_code == 201:
            response.headers["Location"] = f"/cameras/{camera.id}"
        return response

    @protected.delete("/cameras/{camera_id}")
    async def remove_camera(camera_id: str) -> JSONResponse:
        return await command(CommandKind.REMOVE_CAMERA, camera_id)

    @protected.put("/policy")
    async def set_policy(request: Request) -> JSONResponse:
        try:
            policy = _POLICY.validate_python(await _body(request))
        except ValidationError as exc:
            raise _invalid("policy", exc) from None
        return await command(CommandKind.SET_POLICY, _dump(policy))

    @protected.get("/metrics")
    async def metrics() -> Response:
        snap = await published()
        return Response(render_metrics(snap.data, snap.age_s), media_type=CONTENT_TYPE)

    @protected.get("/", response_class=HTMLResponse)
    async def status_page() -> HTMLResponse:
        snap = await published()
        return HTMLResponse(render_status_page(snap.data, snap.age_s))

    app.include_router(protected)
    return app


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


async def _awaited(ref: Awaitable[Any]) -> Any:
    return await ref
