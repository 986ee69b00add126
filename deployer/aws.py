"""The one place boto3 clients are made.

Every AWS call of the deployer goes through ``Aws.client`` so that all of them
share one retry policy and one region, and so that tests and the benchmark can
hook a single boto3 session (``Aws.session.events``) to count or fake calls.

The endpoint is left to boto3: it reads ``AWS_ENDPOINT_URL`` (and the per-service
``AWS_ENDPOINT_URL_<SERVICE>``) itself, which is how the tests reach LocalStack.
"""

from __future__ import annotations

import threading

import boto3
from botocore.config import Config

# "adaptive" = the "standard" retry rules (throttling, 5xx, connection errors,
# with exponential backoff) plus a client-side rate limiter that slows every
# thread sharing a client once AWS starts throttling - the deployer runs stacks
# concurrently against one CloudFormation client. 10 attempts ride out a
# throttling burst of ~a minute; a throttle is never fatal before that.
RETRIES = {"mode": "adaptive", "max_attempts": 10}


def config() -> Config:
    return Config(retries=dict(RETRIES), connect_timeout=10, read_timeout=60, user_agent_extra="ia-comafi-deployer")


class Aws:
    """boto3 clients for one region, made once each and shared between threads (clients are thread-safe,
    making them is not, hence the lock)."""

    def __init__(self, region: str, session: boto3.session.Session | None = None, clients: dict | None = None):
        self.region = region
        self.session = session or boto3.session.Session(region_name=region)
        self._clients: dict = dict(clients or {})
        self._lock = threading.Lock()

    def client(self, service: str, region: str | None = None):
        """The run's client of ``service``; ``region``: another region's (another environment's ledger, read
        where it lives), made once too, and kept apart from this region's."""
        key = service if region in (None, self.region) else f"{service}@{region}"
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self.session.client(service, region_name=region or self.region,
                                                         config=config())
            return self._clients[key]

    @property
    def cfn(self):
        return self.client("cloudformation")


def connect(region: str) -> Aws:
    """The CLI's way in; tests replace it to prove bad input never reaches AWS."""
    return Aws(region)
