"""LangSmith tracing with personal data removed before anything leaves the task.

LangChain traces every model call to LangSmith when LANGCHAIN_TRACING_V2 is on: the prompt
(the question included), the reply, errors and metadata. The client installed here passes each
of those through ``app.redact`` (its ``anonymizer`` hook covers inputs, outputs, errors and
metadata alike), so a trace holds what the unresolved-question record holds: the question with
cards, documents, CUIT/CBU, phones and e-mails replaced by placeholders. ``hide_inputs`` would
miss errors and metadata, and LANGSMITH_HIDE_INPUTS drops the values whole (useless traces).
"""

from __future__ import annotations

from typing import Any

import langsmith
from langsmith import Client

from app.redact import redact
from app.settings import Settings


def anonymize(value: Any) -> Any:
    """``value`` (JSON: dicts, lists, strings, numbers) with every string redacted, at any depth,
    keys included (LangSmith's own ``create_anonymizer`` stops at depth 10; a message list in a
    run's inputs is already 5 deep)."""
    if isinstance(value, str):
        return redact(value)[0]
    if isinstance(value, dict):
        return {anonymize(k) if isinstance(k, str) else k: anonymize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [anonymize(v) for v in value]
    return value


def install(settings: Settings) -> Client | None:
    """Make the redacting client the one every LangChain tracer uses (``langsmith.configure``),
    when tracing is on; None when it is off."""
    if not settings.langchain_tracing_v2:
        return None
    client = Client(
        api_url=settings.langchain_endpoint,
        api_key=settings.langchain_api_key.get_secret_value() if settings.langchain_api_key else None,
        anonymizer=anonymize,
    )
    langsmith.configure(client=client)
    return client
