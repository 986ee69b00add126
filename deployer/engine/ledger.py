"""The release ledger: one JSON record per executed release, in the CI access stack's ledger bucket (Object
Lock on, versioning on, TLS-only), under ``releases/ENV/``, each object locked in COMPLIANCE mode for
``release_retention_days``: nobody, root included, can change or delete a record before then.

Every call names the bucket's owner (ExpectedBucketOwner): the name is predictable, and a record written to a
bucket someone else created first would be theirs to read or erase.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

import contract
from deployer.errors import DeployError

SUCCEEDED = "succeeded"
FAILED = "failed"


def bucket_name(project: str, account: str, region: str) -> str:
    return contract.resource_name("release_ledger", project, account, region)


def prefix(environment: str) -> str:
    return f"{contract.RELEASES_PREFIX}/{environment}/"


def exists(s3, bucket: str, account: str) -> bool:
    """Whether the ledger bucket is there (False: the CI access stack that makes it is not deployed); a bucket
    of that name owned by another account is refused."""
    try:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
        return True
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("404", "NoSuchBucket", "NotFound"):
            return False
        if code in ("403", "AccessDenied", "Forbidden"):
            raise DeployError(f"release ledger bucket {bucket} answers 403 with ExpectedBucketOwner {account}: it "
                              "is another account's, or these credentials may not read it; no release is recorded "
                              "there") from None
        raise


def ci_context(environ=os.environ) -> dict:
    """Who ran it in CI: the GitHub actor and the run's URL (empty outside GitHub Actions)."""
    if not environ.get("GITHUB_ACTIONS"):
        return {}
    run = (f"{environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{environ.get('GITHUB_REPOSITORY', '')}"
           f"/actions/runs/{environ.get('GITHUB_RUN_ID', '')}")
    return {"actor": environ.get("GITHUB_ACTOR", ""), "run_url": run, "ref": environ.get("GITHUB_REF", ""),
            "sha": environ.get("GITHUB_SHA", "")}


def key_for(environment: str, started: datetime, digest: str) -> str:
    return f"{prefix(environment)}{started.astimezone(UTC):%Y%m%dT%H%M%S.%f}Z-{digest[:12]}.json"


def append(s3, bucket: str, account: str, environment: str, record: dict, retention_days: int,
           now: datetime | None = None) -> str:
    """Write ``record`` as a new object, locked (COMPLIANCE) for ``retention_days``; returns its key."""
    started = datetime.fromisoformat(record["started"])
    key = key_for(environment, started, record.get("plan_digest") or record["record_digest"])
    until = (now or datetime.now(UTC)) + timedelta(days=retention_days)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(record, indent=2, sort_keys=True).encode(),
                  ContentType="application/json", ExpectedBucketOwner=account,
                  ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
                  # Never over an existing key: the deploy role may put only new records (s3:if-none-match).
                  IfNoneMatch="*",
                  ChecksumAlgorithm="SHA256")  # Object Lock needs a checksum on every put
    return key


def read(s3, bucket: str, account: str, key: str) -> dict:
    """One record, with its key; a body that is not a JSON object reads as result "unreadable"."""
    body = s3.get_object(Bucket=bucket, Key=key, ExpectedBucketOwner=account)["Body"].read()
    try:
        found = json.loads(body)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        return {"key": key, "result": "unreadable", "started": ""}
    return {**found, "key": key}


def records(s3, bucket: str, account: str, environment: str) -> list[dict]:
    """Every record of ``environment``, oldest first."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix(environment),
                                                         ExpectedBucketOwner=account)
    found = [read(s3, bucket, account, obj["Key"]) for page in pages for obj in page.get("Contents", [])]
    return sorted(found, key=lambda r: (r.get("started") or "", r["key"]))


def succeeded(record: dict) -> bool:
    """A release that ended well and names the image it ran: what rollback goes back to and promotion counts."""
    return record.get("result") == SUCCEEDED and bool((record.get("image") or {}).get("digest"))


def last_successful(found: list[dict], other_than: str | None = None) -> dict | None:
    """The newest release that succeeded and ran an image other than ``other_than`` (the one running: what
    rollback goes back from), by digest."""
    good = [r for r in found if succeeded(r) and r["image"]["digest"] != other_than]
    return good[-1] if good else None


def by_digest(found: list[dict]) -> dict[str, dict]:
    """The succeeded releases of ``found`` (oldest first) by image digest, the newest of each."""
    return {r["image"]["digest"]: r for r in found if succeeded(r)}
