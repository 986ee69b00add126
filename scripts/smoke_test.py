"""The pipeline's smoke test of a deployed environment, through its public URL (the ALB, behind the WAF):
the API's contract as a client meets it, before the next environment gets the release.

    python scripts/smoke_test.py https://api.staging.example.com [--wait 300]

1. ``GET /`` answers 200 ``{"status": "ok"}`` (waited for, up to --wait seconds: the service may still be
   replacing its tasks);
2. ``GET /v1/benefits`` answers 200 with the catalogue (count, updated_at, benefits);
3. one ``POST /v1/query`` answers 200 with an answer (answer, benefit_ids, cached, resolved): the model,
   the cache and the bucket are reachable from the tasks (a 503 is retried as its Retry-After says, bounded);
4. a bad request (an empty question) answers 422: validation runs, and the WAF lets the API say so.

Standard library only, so the job needs no install. Exit 0: all passed; 1: the first failure, named, on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

QUESTION = "¿Qué descuento hay en supermercados los miércoles?"
QUERY_RETRIES = 3  # 503s (model busy) retried before the smoke test fails
MAX_RETRY_AFTER = 10  # s: at most this long between them, whatever Retry-After says
REQUEST_TIMEOUT = 30  # s: one request (a query calls the model)

# (request, field -> type) the contract promises (docs/api.md; app/schemas.py).
BENEFITS_FIELDS = {"count": int, "updated_at": str, "benefits": list}
QUERY_FIELDS = {"answer": str, "benefit_ids": list, "cached": bool, "resolved": bool}


class SmokeFailure(Exception):
    """One line: the request, what came back, what was expected."""


def request(url: str, method: str = "GET", body: object = None) -> tuple[int, dict, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "content-type": "application/json", "accept": "application/json", "user-agent": "ia-comafi-smoke-test"})
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310 (the URL is ours)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def json_body(what: str, status: int, raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except ValueError:
        raise SmokeFailure(f"{what}: {status} with a body that is not JSON: {raw[:200]!r}") from None
    if not isinstance(body, dict):
        raise SmokeFailure(f"{what}: {status} with JSON that is not an object: {raw[:200]!r}")
    return body


def expect(what: str, status: int, raw: bytes, want: int, fields: dict[str, type]) -> dict:
    if status != want:
        raise SmokeFailure(f"{what}: answered {status}, expected {want}: {raw[:300]!r}")
    body = json_body(what, status, raw)
    for field, kind in fields.items():
        if not isinstance(body.get(field), kind) or (kind is int and isinstance(body.get(field), bool)):
            raise SmokeFailure(f"{what}: field {field!r} is {body.get(field)!r}, expected a {kind.__name__}")
    return body


def wait_healthy(base: str, wait: float, poll: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            status, _, raw = request(f"{base}/")
        except OSError as exc:  # connection refused, DNS not there yet, timeout
            status, raw = 0, str(exc).encode()
        if status == 200:
            body = json_body("GET /", status, raw)
            if body != {"status": "ok"}:
                raise SmokeFailure(f"GET /: 200 with {body}, expected {{'status': 'ok'}}")
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise SmokeFailure(f"GET /: still {status or 'unreachable'} after {wait:.0f} s: {raw[:200]!r}")
        time.sleep(min(poll, left))


def query(base: str) -> dict:
    for attempt in range(QUERY_RETRIES + 1):
        status, headers, raw = request(f"{base}/v1/query", "POST", {"question": QUESTION})
        if status != 503 or attempt == QUERY_RETRIES:
            return expect("POST /v1/query", status, raw, 200, QUERY_FIELDS)
        retry_after = headers.get("Retry-After") or headers.get("retry-after") or "1"
        time.sleep(min(MAX_RETRY_AFTER, int(retry_after) if retry_after.isdigit() else 1))
    raise AssertionError("unreachable")


def smoke(base: str, wait: float = 300, poll: float = 10, say=print) -> None:
    base = base.rstrip("/")
    wait_healthy(base, wait, poll)
    say(f"GET {base}/: 200 ok")
    status, _, raw = request(f"{base}/v1/benefits")
    benefits = expect("GET /v1/benefits", status, raw, 200, BENEFITS_FIELDS)
    say(f"GET /v1/benefits: 200, {benefits['count']} benefits")
    answer = query(base)
    say(f"POST /v1/query: 200, resolved={answer['resolved']}, cached={answer['cached']}")
    status, _, raw = request(f"{base}/v1/query", "POST", {"question": ""})
    if status != 422:
        raise SmokeFailure(f"POST /v1/query with an empty question: answered {status}, expected 422: {raw[:300]!r}")
    say("POST /v1/query with an empty question: 422")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Smoke-test a deployed environment through its public URL.")
    parser.add_argument("url", help="the environment's API URL (deploy.py ENV outputs: compute's ApiUrl)")
    parser.add_argument("--wait", type=float, default=300, help="seconds GET / may take to answer 200")
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        print(f"smoke_test.py: error: url {args.url!r} is not an http:// or https:// URL", file=sys.stderr)
        return 2
    try:
        smoke(args.url, args.wait)
    except SmokeFailure as exc:
        print(f"smoke_test.py: failed: {exc}", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
