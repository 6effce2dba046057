"""Schemathesis over the OpenAPI schema: generated requests, valid and not, signed in and
not, never get a 5xx."""

import os

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from tests.api.conftest import bearer, make_order, order_body, sign_in

EXAMPLES = int(os.environ.get("ORRANGE_SCHEMA_EXAMPLES", "25"))


@pytest.fixture
def app(platform):
    return create_app(platform=platform, run_jobs=False)


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture
def signed_in(app, platform, traders, world, indexer):
    """A signed-in trader with an open order, so that paths naming things can find some, and the
    chain indexed (else /health rightly says 503)."""
    indexer.sync()
    with TestClient(app) as client:
        tokens = sign_in(client, traders[0])
        order = make_order(traders[0], world.tokens[1])
        client.post("/orders", json=order_body(order, traders[0], platform), headers=bearer(tokens))
    return bearer(tokens)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_api__no_server_errors(case, signed_in):
    case.call_and_validate(headers=signed_in, checks=[not_a_server_error])
