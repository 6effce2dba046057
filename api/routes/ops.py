"""For operators and load balancers: `/health` and Prometheus `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import PlatformDep
from api.telemetry import check_health

router = APIRouter(tags=["operations"])


@router.get("/health", responses={503: {"description": "a check failed: `checks` says which and why"}})
def health(platform: PlatformDep) -> JSONResponse:
    """200 when this process can serve: the database answers, the chain's RPC answers, and the
    indexer is at most `ORRANGE_HEALTH_MAX_LAG` blocks behind the chain's head; else 503 (a
    load balancer stops sending requests here). `checks` has a verdict for each."""
    verdict = check_health(platform)
    return JSONResponse(verdict.body, status_code=200 if verdict.ok else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request) -> Response:
    """Prometheus metrics of this process: requests by route and status, their latencies, the
    indexer's lag (and throughput when it runs here), open trades, the relayer's balance."""
    return Response(generate_latest(request.app.state.telemetry.registry), media_type=CONTENT_TYPE_LATEST)
