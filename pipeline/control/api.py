"""The REST routes of the control plane, as a FastAPI app bound to the fleet's controller.

Bodies are validated here with the config models (:class:`~pipeline.config.CameraConfig`, the
:data:`~pipeline.scheduler.config.PolicyConfig` union) before anything reaches the controller, whose typed
methods answer with a :class:`~pipeline.controller.controller.ControlResult` once the change is applied (or
refused). Reads (``/cameras``, ``/metrics``, the status page) come from the controller's typed
:class:`~pipeline.status.FleetStatus`. Every route but ``/healthz`` requires
``Authorization: Bearer <token>`` when a token is configured; only the token's SHA-256 is held here.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable
from typing import Annotated, Any

import ray
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import TypeAdapter, ValidationError

from pipeline.config import CameraConfig
from pipeline.control.admission import CameraAdmission
from pipeline.control.metrics import CONTENT_TYPE, render_metrics
from pipeline.control.status_page import render_status_page
from pipeline.controller.controller import ControlOutcome, ControlResult
from pipeline.scheduler.config import PolicyConfig
from pipeline.status import FleetStatus

logger = logging.getLogger(__name__)

_READ_TIMEOUT_S = 5.0
_POLICY: TypeAdapter[PolicyConfig] = TypeAdapter(PolicyConfig)
_STATUS = {
    ControlOutcome.OK: 200,
    ControlOutcome.INVALID: 422,
    ControlOutcome.NOT_FOUND: 404,
    ControlOutcome.CONFLICT: 409,
    ControlOutcome.FAILED: 500,
    ControlOutcome.UNAVAILABLE: 503,
}


def token_digest(token: str) -> str:
    """The SHA-256 hex digest the API compares bearer tokens with."""
    return hashlib.sha256(token.encode()).hexdigest()


def _invalid(what: str, error: ValidationError) -> HTTPException:
    fields = []
    for item in error.errors():
        loc = [str(p) for p in item["loc"] if not str(p).startswith(("function-", "tagged-"))]
        fields.append({"field": ".".join(loc) or "<body>", "message": item["msg"]})
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return HTTPException(422, detail={"message": f"invalid {what}: {summary}", "errors": fields})


async def _body(request: Request, limit: int) -> Any:
    """The request's JSON body, read up to ``limit`` bytes (413 past it, whatever Content-Length says)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, detail=f"the body is larger than {limit} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data.extend(chunk)
        if len(data) > limit:
            raise HTTPException(413, detail=f"the body is larger than {limit} bytes")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise HTTPException(422, detail={"message": f"body is not JSON: {exc}", "errors": []}) from exc


def build_api(
    controller: Any,
    *,
    token_sha256: str | None,
    admission: CameraAdmission,
    max_body_bytes: int = 16_384,
    changes_per_minute: int = 60,
    wait_s: float = 30.0,
) -> FastAPI:
    """Build the control API on ``controller`` (a ControllerActor handle).

    Args:
        controller: Handle of the fleet's :class:`~pipeline.controller.actor.ControllerActor`.
        token_sha256: :func:`token_digest` of the API token; None serves without authentication.
        admission: What a camera added through the API may be (403 otherwise).
        max_body_bytes: Largest request body (413 past it).
        changes_per_minute: Changes accepted per client per minute (429 past it).
        wait_s: How long a change may take before the request answers 504.

    Returns:
        The FastAPI app.
    """
    limiter = MovingWindowRateLimiter(MemoryStorage())
    changes = RateLimitItemPerMinute(changes_per_minute)

    def limit_changes(request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        if not limiter.hit(changes, "changes", client):
            raise HTTPException(
                429, detail=f"more than {changes_per_minute} changes a minute", headers={"Retry-After": "60"}
            )

    async def call(ref: Awaitable[Any], timeout_s: float) -> Any:
        try:
            return await asyncio.wait_for(_awaited(ref), timeout_s)
        except asyncio.TimeoutError as exc:
            raise HTTPException(504, detail=f"the controller did not answer within {timeout_s:g} s") from exc
        except ray.exceptions.RayError as exc:
            logger.warning("controller call failed: %r", exc)
            raise HTTPException(503, detail="the controller is unavailable") from exc

    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        if token_sha256 is None:
            return
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token_digest(value.strip()), token_sha256):
            raise HTTPException(
                401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    async def fleet() -> FleetStatus:
        status: FleetStatus = await call(controller.status.remote(), _READ_TIMEOUT_S)
        return status

    async def change(ref: Awaitable[Any], created: int = 200) -> JSONResponse:
        result: ControlResult = await call(ref, wait_s)
        status = created if result.ok else _STATUS.get(result.outcome, 500)
        return JSONResponse({"outcome": result.outcome.value, "message": result.message}, status_code=status)

    docs = token_sha256 is None  # the interactive docs cannot send a token: hide them when one is required
    app = FastAPI(
        title="camfleet control",
        version="2",
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    protected = APIRouter(dependencies=[Depends(require_token)])
    limited = [Depends(limit_changes)]

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        try:
            status = await fleet()
        except HTTPException as exc:
            return JSONResponse({"status": "unavailable", "detail": exc.detail}, status_code=503)
        lost = [w.worker_id for w in status.workers if not w.alive]
        body = {
            "status": "degraded" if lost or status.unplaced else "ok",
            "cameras": len(status.cameras),
            "unplaced": list(status.unplaced),
            "workers_lost": lost,
        }
        return JSONResponse(body, status_code=200)

    @protected.get("/cameras")
    async def list_cameras() -> JSONResponse:
        status = (await fleet()).to_json()
        return JSONResponse(
            {"design": status["design"], "cameras": status["cameras"], "unplaced": status["unplaced"]}
        )

    @protected.post("/cameras", dependencies=limited)
    async def add_camera(request: Request) -> JSONResponse:
        try:
            camera = CameraConfig.model_validate(await _body(request, max_body_bytes))
        except ValidationError as exc:
            raise _invalid("camera", exc) from None
        refusal = admission.refusal(camera)
        if refusal is not None:
            logger.warning("POST /cameras refused for %s: %s", camera.id, refusal)
            raise HTTPException(403, detail={"message": f"camera {camera.id!r} refused: {refusal}"})
        response = await change(controller.add_camera.remote(camera), created=201)
        if response.status_code == 201:
            response.headers["Location"] = f"/cameras/{camera.id}"
        return response

    @protected.delete("/cameras/{camera_id}", dependencies=limited)
    async def remove_camera(camera_id: str) -> JSONResponse:
        return await change(controller.remove_camera.remote(camera_id))

    @protected.put("/policy", dependencies=limited)
    async def set_policy(request: Request) -> JSONResponse:
        try:
            policy = _POLICY.validate_python(await _body(request, max_body_bytes))
        except ValidationError as exc:
            raise _invalid("policy", exc) from None
        return await change(controller.set_policy.remote(policy))

    @protected.get("/metrics")
    async def metrics() -> Response:
        try:
            status: FleetStatus | None = await fleet()
        except HTTPException:
            status = None
        return Response(render_metrics(status), media_type=CONTENT_TYPE)

    @protected.get("/", response_class=HTMLResponse)
    async def status_page() -> HTMLResponse:
        try:
            status: FleetStatus | None = await fleet()
        except HTTPException:
            status = None
        return HTMLResponse(render_status_page(status))

    app.include_router(protected)
    return app


async def _awaited(ref: Awaitable[Any]) -> Any:
    return await ref
