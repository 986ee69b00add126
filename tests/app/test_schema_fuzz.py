"""Property-based fuzzing of the OpenAPI schema with schemathesis: no 5xx, and every
response passes schemathesis' default checks (documented status codes, schema and
content type conformance, negative data rejected). Bounded: 40 examples per operation."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.main import create_app

from .conftest import CARREFOUR_ANSWER, CountingFakeModel


@pytest.fixture
def api_schema(make_settings, redis_db, aws):
    app = create_app(make_settings(api_docs=True), model=CountingFakeModel(responses=[CARREFOUR_ANSWER]))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
def test_api_never_answers_5xx(case):
    response = case.call()
    assert response.status_code < 500, (response.status_code, response.text, case.body, case.query)
    case.validate_response(response)
