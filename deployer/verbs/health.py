"""`health`: GET the API URL until it answers 200 or the time bound passes.

The URL is the compute stack's ApiUrl: https://DOMAIN wherever the params serve HTTPS (an http:// one there
is refused, not polled), the ALB's http:// name only where they say allow_plain_http.

The pipeline's last step (`deploy.py prod health --timeout 300`): a deploy that CloudFormation calls
complete can still serve 502s while the ALB registers the new tasks. Every attempt is printed, and on
failure the last status (or connection error) is what the operator reads.
"""

from __future__ import annotations

import argparse
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import contract
from deployer.errors import EXIT_OK, DeployError
from deployer.verbs.verb import Verb, compute_output, say, seconds

DEFAULT_TIMEOUT = 120  # s
INTERVAL = 5  # s between attempts
REQUEST_TIMEOUT = 10  # s, at most, per attempt (never past the bound)


def get(url: str, timeout: float) -> str:
    """"200", "503"... or the error, as one line. Redirects (80 -> 443) are followed."""
    request = urllib.request.Request(url, headers={"User-Agent": "ia-comafi-deploy-health"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 (http/https URL of our ALB)
            return str(resp.status)
    except urllib.error.HTTPError as exc:
        return str(exc.code)
    except urllib.error.URLError as exc:
        return f"error: {exc.reason}"
    except (TimeoutError, ConnectionError, OSError) as exc:
        return f"error: {exc.__class__.__name__}: {exc}".rstrip(": ")


def wait_healthy(url: str, timeout: float, say: Callable[[str], None], interval: float = INTERVAL,
                 fetch: Callable[[str, float], str] = get, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> tuple[bool, str]:
    """(True, "200") as soon as ``url`` answers 200; (False, last status or error) once ``timeout`` s pass.

    At least one attempt; none starts after the bound, none lasts more than half a second past it.
    """
    deadline = clock() + timeout
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - clock()
        result = fetch(url, max(0.5, min(REQUEST_TIMEOUT, remaining)))
        left = max(0.0, deadline - clock())
        say(f"[{attempt}] GET {url} -> {result} ({left:.0f} s left)")
        if result == "200":
            return True, result
        if left <= 0:
            return False, result
        sleep(min(interval, left))  # the last attempt falls on the bound itself


def health_url(api_url: str) -> str:
    """The ALB's health check path, GET /, on the ApiUrl output."""
    return api_url.rstrip("/") + "/"


def health_cmd(ctx, args) -> int:
    api_url = compute_output(ctx.aws().cfn, ctx.params.project, contract.API_URL)
    if not ctx.params["allow_plain_http"] and not api_url.startswith("https://"):
        # Polling it would call a plain-HTTP API healthy: the stack serves what the params no longer allow.
        raise DeployError(f"{contract.API_URL} is {api_url}, not https, yet params/{ctx.params.env}.yaml serves "
                          f"HTTPS; deploy the compute stack (deploy.py {ctx.params.env} --stacks compute) first")
    url = health_url(api_url)
    ok, last = wait_healthy(url, args.timeout, say(ctx), interval=args.interval)
    if ok:
        ctx.out.line(f"healthy: {url} answered 200", colour="green")
        return EXIT_OK
    raise DeployError(f"unhealthy: {url} did not answer 200 within {args.timeout:g} s; last: {last}")


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", metavar="S", type=seconds, default=DEFAULT_TIMEOUT,
                        help=f"give up after S seconds (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--interval", metavar="S", type=seconds, default=INTERVAL,
                        help=f"seconds between attempts (default {INTERVAL})")


HEALTH = Verb("health", health_cmd, "GET the API URL until 200, bounded (exit 1 with the last status)",
              ("python deploy.py prod health", "python deploy.py prod health --timeout 300"), _options)
