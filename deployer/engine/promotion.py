"""Promotion: an environment with a promotion source (prod's is staging, contract.promotion_source) runs only an
image its source released successfully. The proof is the source's own release ledger (ledger.py): a record
whose result is "succeeded" and whose image digest is the one about to run.

The source's ledger is in the source's account and region, read with this environment's credentials (the
source's ledger bucket policy lets this environment's deploy and plan roles read ``releases/SOURCE/``). Every
call names the source's account as the bucket's owner: the bucket name is predictable, and a bucket of that
name someone else created could hold any record they like.

Plain functions over an S3 client of the source's region; the verbs decide what a finding means and say it.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from deployer.engine import ledger
from deployer.errors import DeployError

DENIED = ("403", "AccessDenied", "Forbidden", "AllAccessDisabled")
MISSING = ("404", "NoSuchBucket", "NotFound")


@dataclass(frozen=True)
class Source:
    """Where the source environment's releases are recorded."""

    environment: str
    account: str
    region: str
    bucket: str

    @classmethod
    def of(cls, environment: str, project: str, account: str, region: str) -> Source:
        return cls(environment, account, region, ledger.bucket_name(project, account, region))

    def where(self) -> str:
        return f"s3://{self.bucket}/{ledger.prefix(self.environment)} (account {self.account}, {self.region})"


@dataclass(frozen=True)
class Finding:
    """What the source's ledger says of one digest: the newest succeeded release of it (None: there is none),
    and the newest succeeded release of any image (what the source runs, to name in a refusal)."""

    release: dict | None
    newest: dict | None


def _unreadable(source: Source, exc: ClientError, what: str) -> DeployError:
    code = exc.response.get("Error", {}).get("Code")
    if code in MISSING:
        return DeployError(f"the release ledger of {source.environment}, {source.where()}, does not exist: "
                           f"nothing shows {source.environment} released this image; its CI access stack makes "
                           "the bucket")
    if code == "NoSuchKey":
        return DeployError(f"the release ledger of {source.environment}, {source.where()}, has no record "
                           f"{what.split()[-1]}")
    if code in DENIED:
        return DeployError(f"the release ledger of {source.environment}, {source.where()}, answers {what} with "
                           f"403 (access denied) with ExpectedBucketOwner {source.account}: the bucket is "
                           f"another account's, or its policy does not let these credentials read "
                           f"{ledger.prefix(source.environment)}; nothing shows {source.environment} released "
                           "this image")
    return DeployError(f"the release ledger of {source.environment}, {source.where()}, could not be read "
                       f"({what}): {exc}")


def _read(s3, source: Source, key: str) -> dict:
    try:
        return ledger.read(s3, source.bucket, source.account, key)
    except ClientError as exc:
        raise _unreadable(source, exc, f"GetObject {key}") from None


def _keys(s3, source: Source) -> list[str]:
    """Every record's key, newest first (ledger.key_for starts each with the release's start time)."""
    try:
        s3.head_bucket(Bucket=source.bucket, ExpectedBucketOwner=source.account)
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=source.bucket,
                                                             Prefix=ledger.prefix(source.environment),
                                                             ExpectedBucketOwner=source.account)
        keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    except ClientError as exc:
        raise _unreadable(source, exc, "HeadBucket/ListObjectsV2") from None
    return sorted(keys, reverse=True)


def find(s3, source: Source, digest: str) -> Finding:
    """The newest release the source's ledger records as succeeded with image ``digest``, reading records
    newest first and stopping there; when there is none, every record was read, and the newest succeeded one
    is named. DeployError when the ledger is missing or may not be read."""
    newest = None
    for key in _keys(s3, source):
        record = _read(s3, source, key)
        if not ledger.succeeded(record):
            continue
        newest = newest or record
        if record["image"]["digest"] == digest:
            return Finding(record, newest)
    return Finding(None, newest)


def verify(s3, source: Source, promoted_from: dict) -> dict:
    """The release a plan says it was promoted from, read again at apply (the plan may be a day old, and its
    file names the bucket and key: they must be the source's ledger today); DeployError saying why it no
    longer proves the plan's image."""
    planned = (promoted_from.get("environment"), promoted_from.get("bucket"))
    if planned != (source.environment, source.bucket):
        raise DeployError(f"the plan names a release of {planned[0]} in bucket {planned[1]}, but "
                          f"{source.environment}'s release ledger is {source.where()}")
    key = str(promoted_from.get("key", ""))
    if not key.startswith(ledger.prefix(source.environment)):
        raise DeployError(f"the plan names release {key}, which is not under {ledger.prefix(source.environment)}")
    try:
        s3.head_bucket(Bucket=source.bucket, ExpectedBucketOwner=source.account)
    except ClientError as exc:
        raise _unreadable(source, exc, "HeadBucket") from None
    record = _read(s3, source, key)
    if not ledger.succeeded(record) or record["image"]["digest"] != promoted_from.get("digest"):
        raise DeployError(f"{source.environment} release {key} does not record a successful release of "
                          f"{promoted_from.get('digest')} (it records result {record.get('result')}, image "
                          f"{(record.get('image') or {}).get('digest') or 'none'})")
    return record


def promoted_from(source: Source, release: dict) -> dict:
    """What a run's plan and ledger record keep of the release it was promoted from."""
    return {"environment": source.environment, "bucket": source.bucket, "key": release["key"],
            "digest": release["image"]["digest"]}


def described(release: dict) -> str:
    """``succeeded ENDED, RUN_URL`` (in CI) or ``succeeded ENDED, CALLER``: when and by whom, for the output."""
    by = (release.get("ci") or {}).get("run_url") or release.get("caller") or "unknown caller"
    return f"{release.get('result')} {release.get('ended') or release.get('started') or '?'}, {by}"
