"""The FastAPI application: `create_app()` builds it from settings (see `api.settings`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout

from api import jobs
from api.chain import ChainGateway
from api.db import make_engine, migrate
from api.deps import Platform
from api.errors import ApiError
from api.hub import Hub
from api.market import Market
from api.routes import auth, escrows, live, ops, orders, trades, webhooks
from api.schemas import HAND_READ_BODIES
from api.settings import ApiSettings
from api.telemetry import RequestTelemetry, Telemetry
from indexer import db as indexer_db
from indexer import logs
from indexer.deployment import Deployment
from indexer.errors import OrrangeError
from indexer.metrics import IndexerCollector
from indexer.rpc import RpcClient
from indexer.service import Indexer

log = logging.getLogger(__name__)


def build_platform(settings: ApiSettings, engine: Engine | None = None) -> Platform:
    """Connects the parts: database (migrated), chain id, deployment, relayer."""
    engine = engine or make_engine(settings.database_url)
    migrate(engine)
    chain_id = settings.chain_id
    if chain_id is None:
        rpc = RpcClient(settings.rpc_url, timeout=settings.rpc_timeout, max_attempts=3)
        chain_id = int(rpc.request("eth_chainId"), 16)
        rpc.close()
    market = Market.from_deployment(Deployment.load(chain_id, settings.deployments_dir))
    key = settings.relayer_key.get_secret_value() if settings.relayer_key else None
    gateway = ChainGateway(settings.rpc_url, market.escrow, key)
    hub = Hub(settings.redis_url, settings.redis_prefix)
    return Platform(settings=settings, engine=engine, market=market, gateway=gateway, hub=hub)


class EmbeddedIndexer:
    """An indexer in a thread of the API process (`ORRANGE_INDEXER_IN_API`): with several API
    processes, one indexes the chain and the others stand by (see indexer.leader)."""

    def __init__(self, settings: ApiSettings, telemetry: Telemetry):
        self.engine = indexer_db.make_engine(settings.database_url)  # its own, as `orrange index` has
        self.indexer = Indexer(settings, self.engine)
        telemetry.registry.register(IndexerCollector(self.indexer))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="indexer", daemon=True)

    def _run(self) -> None:
        try:
            self.indexer.run(self.stop)
        except OrrangeError as error:  # a reorganisation deeper than it keeps: the operator decides
            log.critical("the indexer stopped: %s", error)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=15)
        self.engine.dispose()


def create_app(
    settings: ApiSettings | None = None, *, platform: Platform | None = None, run_jobs: bool | None = None
) -> FastAPI:
    """The app; with no arguments, from the environment (`uvicorn api.app:create_app --factory`),
    logging as the settings say."""
    if settings is None and platform is None:
        settings = ApiSettings.load()
        logs.configure(settings)
    platform = platform or build_platform(settings)
    run_jobs = platform.settings.jobs if run_jobs is None else run_jobs
    telemetry = Telemetry(platform)
    indexing = EmbeddedIndexer(platform.settings, telemetry) if platform.settings.indexer_in_api else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        platform.hub.bind(asyncio.get_running_loop())
        # Fewer request threads than anyio's 40: they share one GIL, and more of them only trade
        # it back and forth (the database's pool has a connection for each).
        anyio.to_thread.current_default_thread_limiter().total_tokens = platform.settings.request_threads
        if indexing is not None:
            indexing.thread.start()
        scheduler = jobs.start(platform) if run_jobs else None
        relay = asyncio.create_task(platform.hub.relay()) if platform.hub.redis_url else None
        # The modules and tables loaded by now live as long as the process: keep them out of the
        # collector's full passes, and run those passes less often (they pause every request).
        # The youngest generation is collected every 2,000 allocations: at 10,000 each pass
        # paused the process 12 ms, twice a second at 1,000 placements/s, and that showed in
        # the latency's 95th percentile (PostgreSQL placement: about 100 -> 50 ms).
        gc.collect()
        gc.freeze()
        gc.set_threshold(2_000, 50, 100)
        try:
            yield
        finally:
            if relay is not None:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay
            if scheduler is not None:
                scheduler.shutdown(wait=True)
            if indexing is not None:
                indexing.close()
            platform.close()

    app = FastAPI(
        title="Orrange",
        version="0.1.0",
        summary="Non-custodial P2P crypto-for-fiat trading: signed ads, matching, escrowed trades.",
        lifespan=lifespan,
    )
    app.state.platform = platform
    app.state.telemetry = telemetry
    app.add_api_route("/orders", orders.place, **orders.PLACE_ROUTE)  # the hot path, matched first
    app.add_middleware(HotPath, fastapi_app=app, route=app.router.routes[-1])
    app.add_middleware(RequestTelemetry, telemetry=telemetry)
    _document_hand_read_bodies(app)
    for module in (auth, orders, trades, escrows, webhooks, live, ops):
        app.include_router(module.router)
    app.include_router(orders.book_router)
    app.include_router(escrows.reputation_router)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse({"detail": error.message}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(SQLAlchemyTimeout)
    @app.exception_handler(OperationalError)
    async def _busy(_request: Request, error: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", error)
        return JSONResponse({"detail": "the database is busy or unreachable; try again shortly"}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(part) for part in problem['loc'] if part != 'body') or 'body'}: {problem['msg']}"
            for problem in error.errors()
        ]
        return JSONResponse(
            {"detail": "invalid request: " + "; ".join(problems), "errors": jsonable(error.errors())}, status_code=422
        )

    return app


class HotPath:
    """ASGI middleware: POST /orders, the platform's busiest request, goes straight to its
    endpoint, which reads its caller and body itself. Below this point FastAPI's routing and
    request wrappers took a quarter of the event loop's time per placement (py-spy). The route
    stays registered (OpenAPI documents it from there); errors are answered by the app's own
    exception handlers, as the route's would be, and the request is counted under its route."""

    def __init__(self, app, fastapi_app: FastAPI, route):
        self.app, self.fastapi_app, self.route = app, fastapi_app, route
        self.endpoint = route.endpoint

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/orders" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        scope["route"] = self.route
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except Exception as error:  # noqa: BLE001 - answered by the app's handler, or raised on
            handler = next(
                (self.fastapi_app.exception_handlers[kind] for kind in type(error).__mro__
                 if kind in self.fastapi_app.exception_handlers), None,
            )  # fmt: skip
            if handler is None:
                raise
            response = await handler(request, error)
        await response(scope, receive, send)


def _document_hand_read_bodies(app: FastAPI) -> None:
    """Adds the schemas of the bodies routes read themselves (`schemas.json_body`) to OpenAPI's
    components, where those routes' request bodies point."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in HAND_READ_BODIES:
                definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, nested in definition.pop("$defs", {}).items():
                    components.setdefault(name, nested)
                components.setdefault(model.__name__, definition)
        return app.openapi_schema

    app.openapi = openapi


def jsonable(errors: list[dict]) -> list[dict]:
    return [{"loc": list(problem["loc"]), "msg": problem["msg"], "type": problem["type"]} for problem in errors]
