"""Property-based fuzzing of the OpenAPI schema with schemathesis: no 5xx, and every
response passes schemathesis' default checks (documented status codes, schema and
content type conformance, negative data rejected). Bounded: 40 examples per operation."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.main import create_app
from app.text import clean

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
    excluded = []
    question = case.body.get("question") if isinstance(case.body, dict) else None
    if isinstance(question, str) and not clean(question):
        # JSON Schema's regex has no Unicode categories, so the schema's pattern cannot say "one visible
        # character": it admits a question of invisible characters only, which cleaning empties. The
        # route's answer to that is its documented 422, asserted here instead of schemathesis' check.
        assert response.status_code == 422 and response.json()["detail"][0]["type"] == "question_empty"
        excluded = [positive_data_acceptance]
    case.validate_response(response, excluded_checks=excluded)
