"""Test doubles at the HTTP boundary: botocore ``before-send`` hooks that answer one AWS operation with a
canned response shaped like AWS's, everything else going on to the endpoint. The deployer's code, its
retry policy and botocore's parsing all run for real."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body


def response(status: int, body: bytes, headers: dict) -> AWSResponse:
    return AWSResponse("https://fake", status, headers, _Raw(body))


def _json(status: int, body: dict) -> AWSResponse:
    return response(status, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.1"})


def _ecr_error(code: str, message: str) -> AWSResponse:
    return _json(400, {"__type": code, "message": message})


class Registry:
    """ECR's image calls (not in community LocalStack) answered at the HTTP boundary as AWS answers them, over
    the images this object holds, by repository: DescribeImages (by tag, by digest, or a listing), BatchGetImage
    and PutImage (a tag added to an image already there, as the deployer's release tag is).

    ``any_tag``: a tag nobody pushed is answered as if it had been pushed (an image of its own, whose digest is
    made from the tag and a build counter), so a test need not push every tag it deploys; a digest is answered
    only when an image has it. ``push`` adds an image or moves tags onto a new one (as a build pushes `latest`).
    Tags are immutable but the mutable one, as the repository is (PutImage of a tag on another image:
    ImageTagAlreadyExistsException). The harness shares one between the runs of a test session, as ECR keeps
    images between deploys (repository names are unique per test).
    """

    MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
    MUTABLE = "latest"

    def __init__(self, any_tag: bool = True):
        self.any_tag = any_tag
        self.images: dict[str, list[dict]] = {}  # repository -> [{"digest", "tags", "manifest", "pushed"}]
        self.put: list[dict] = []  # every PutImage body, in order
        self._builds = 0

    def push(self, repository: str, *tags: str) -> str:
        """A new image (a new build) under ``tags``, which leave whatever image had them; its digest."""
        self._builds += 1
        manifest = json.dumps({"schemaVersion": 2, "mediaType": self.MEDIA_TYPE,
                               "layers": [{"digest": f"sha256:{self._builds:064x}"}], "tags": list(tags)})
        digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
        images = self.images.setdefault(repository, [])
        for other in images:
            other["tags"] = [t for t in other["tags"] if t not in tags]
        images.append({"digest": digest, "tags": list(tags), "manifest": manifest,
                       "pushed": 1767225600.0 + self._builds})
        return digest

    def find(self, repository: str, image_id: dict) -> dict | None:
        for image in self.images.get(repository, []):
            if image_id.get("imageDigest") in (None, image["digest"]) and \
                    image_id.get("imageTag") in (None, *image["tags"]):
                return image
        if self.any_tag and "imageTag" in image_id and "imageDigest" not in image_id:
            self.push(repository, image_id["imageTag"])
            return self.find(repository, image_id)
        return None

    def digest(self, repository: str, tag: str) -> str:
        return self.find(repository, {"imageTag": tag})["digest"]

    def tags(self, repository: str, digest: str) -> list[str]:
        found = self.find(repository, {"imageDigest": digest})
        return sorted(found["tags"]) if found else []

    @property
    def hooks(self):
        return [("before-send.ecr.DescribeImages", self.describe_images),
                ("before-send.ecr.BatchGetImage", self.batch_get_image),
                ("before-send.ecr.PutImage", self.put_image)]

    @staticmethod
    def _not_found(repository: str, image_id: dict) -> AWSResponse:
        return _ecr_error("ImageNotFoundException",
                          f"The image with imageId {{imageDigest:'{image_id.get('imageDigest', 'null')}', imageTag:"
                          f"'{image_id.get('imageTag', 'null')}'}} does not exist within the repository with name "
                          f"'{repository}' in the registry with id '000000000000'")

    def _detail(self, repository: str, image: dict) -> dict:
        detail = {"registryId": "000000000000", "repositoryName": repository, "imageDigest": image["digest"],
                  "imagePushedAt": image["pushed"], "imageManifestMediaType": self.MEDIA_TYPE, "imageSizeInBytes": 1}
        return {**detail, "imageTags": list(image["tags"])} if image["tags"] else detail

    def describe_images(self, request, **_):
        asked = json.loads(request.body or b"{}")
        repository = asked["repositoryName"]
        if "imageIds" not in asked:
            tagged_only = asked.get("filter", {}).get("tagStatus") == "TAGGED"
            return _json(200, {"imageDetails": [self._detail(repository, i) for i in self.images.get(repository, [])
                                                if i["tags"] or not tagged_only]})
        found = []
        for image_id in asked["imageIds"]:
            image = self.find(repository, image_id)
            if image is None:
                return self._not_found(repository, image_id)
            found.append(self._detail(repository, image))
        return _json(200, {"imageDetails": found})

    def batch_get_image(self, request, **_):
        asked = json.loads(request.body or b"{}")
        repository, images, failures = asked["repositoryName"], [], []
        for image_id in asked["imageIds"]:
            image = self.find(repository, image_id)
            if image is None:
                failures.append({"imageId": image_id, "failureCode": "ImageNotFound",
                                 "failureReason": "Requested image not found"})
                continue
            images.append({"registryId": "000000000000", "repositoryName": repository, "imageId": image_id,
                           "imageManifest": image["manifest"], "imageManifestMediaType": self.MEDIA_TYPE})
        return _json(200, {"images": images, "failures": failures})

    def put_image(self, request, **_):
        asked = json.loads(request.body or b"{}")
        self.put.append(asked)
        repository, tag = asked["repositoryName"], asked["imageTag"]
        image = next((i for i in self.images.get(repository, []) if i["manifest"] == asked["imageManifest"]), None)
        if image is None or asked.get("imageDigest", image["digest"]) != image["digest"]:
            return _ecr_error("ReferencedImagesNotFoundException",
                              "Some of the image's layers are not in the repository")
        if tag in image["tags"]:
            return _ecr_error("ImageAlreadyExistsException", f"Image with digest '{image['digest']}' and tag '{tag}' "
                                                             "already exists in the repository")
        if tag != self.MUTABLE and any(tag in i["tags"] for i in self.images[repository]):
            return _ecr_error("ImageTagAlreadyExistsException", f"The image tag '{tag}' already exists in the "
                                                                f"'{repository}' repository and cannot be overwritten "
                                                                "because the repository is immutable.")
        image["tags"].append(tag)
        return _json(200, {"image": {"registryId": "000000000000", "repositoryName": repository,
                                     "imageId": {"imageDigest": image["digest"], "imageTag": tag},
                                     "imageManifest": image["manifest"], "imageManifestMediaType": self.MEDIA_TYPE}})


def ecr_repository(exists: bool = False):
    """ECR DescribeRepositories (adoption's existence check; not in community LocalStack): the repository
    exists, or AWS's RepositoryNotFoundException."""

    def handler(request, **_):
        name = json.loads(request.body or b"{}").get("repositoryNames", ["x"])[0]
        if exists:
            body = {"repositories": [{"repositoryName": name, "registryId": "000000000000",
                                      "repositoryArn": f"arn:aws:ecr:us-east-1:000000000000:repository/{name}",
                                      "repositoryUri": f"000000000000.dkr.ecr.us-east-1.amazonaws.com/{name}"}]}
            return response(200, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.1"})
        body = {"__type": "RepositoryNotFoundException",
                "message": f"The repository with name '{name}' does not exist in the registry with id '000000000000'"}
        return response(400, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.1"})

    return handler


def ecr_scan_findings(status: str = "COMPLETE", findings: tuple[dict, ...] = ()):
    """ECR DescribeImageScanFindings (not in community LocalStack): the image's basic scan in ``status`` with
    these findings (AWS's shape: name, severity, attributes package_name/package_version), their
    findingSeverityCounts, or AWS's ScanNotFoundException when ``status`` is None (no scan of the image)."""

    def handler(request, **_):
        asked = json.loads(request.body or b"{}")
        repository, image = asked.get("repositoryName", "x"), asked.get("imageId", {})
        if status is None:
            body = {"__type": "ScanNotFoundException",
                    "message": f"Image scan does not exist for the image with '{{imageDigest:"
                               f"'{image.get('imageDigest', 'null')}', imageTag:'{image.get('imageTag', 'null')}'}}' "
                               f"in the repository with name '{repository}' in the registry with id '000000000000'"}
            return response(400, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.1"})
        counts: dict[str, int] = {}
        for f in findings:
            counts[f["severity"]] = counts.get(f["severity"], 0) + 1
        body = {"registryId": "000000000000", "repositoryName": repository,
                "imageId": image,
                "imageScanStatus": {"status": status, "description": {
                    "COMPLETE": "The scan was completed successfully.", "IN_PROGRESS": "",
                }.get(status, "")}}
        if status == "COMPLETE":
            body["imageScanFindings"] = {"imageScanCompletedAt": 1767225600.0,
                                         "vulnerabilitySourceUpdatedAt": 1767225600.0,
                                         "findingSeverityCounts": counts, "findings": list(findings)}
        return response(200, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.1"})

    return handler


def cfn_error(code: str, message: str, status: int = 400) -> AWSResponse:
    body = (
        '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()
    return response(status, body, {"Content-Type": "text/xml"})


DESCRIBE_EVENTS_MISSING = ("InvalidAction", "Could not find operation DescribeEvents for version 2010-05-15")


def describe_events_unavailable(request, **_) -> AWSResponse:
    """CloudFormation DescribeEvents (pre-deployment validation, November 2025) as an endpoint without it
    answers: community LocalStack does not have it, so the deployer falls back to the stack events."""
    return cfn_error(*DESCRIBE_EVENTS_MISSING)


def moto_without_describe_events(monkeypatch) -> None:
    """moto has no DescribeEvents either, and raises NotImplementedError inside the call (before any session
    hook can answer): its CloudFormation answers as an endpoint without the action does instead."""
    from moto.cloudformation.exceptions import CloudFormationError
    from moto.cloudformation.responses import CloudFormationResponse

    class Missing(CloudFormationError):
        code = DESCRIBE_EVENTS_MISSING[0]

    def answer(self):
        raise Missing(DESCRIBE_EVENTS_MISSING[1])

    monkeypatch.setattr(CloudFormationResponse, "describe_events", answer, raising=False)


class StackPolicies:
    """Answers CloudFormation SetStackPolicy and GetStackPolicy (not emulated by LocalStack community) with AWS's
    query-protocol XML, remembering each stack's policy; every other call goes on to the endpoint.

        policies = StackPolicies(); policies.attach(aws.session)   # then deploy; policies.bodies[stack_name]

    Keyed by the StackName sent (the deployer sends the name), kept for as long as the object lives: the
    harness shares one between the runs of a test session, as AWS keeps a stack's policy between deploys.
    """

    XMLNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"

    def __init__(self):
        self.bodies: dict[str, str] = {}
        self.calls: list[str] = []

    def attach(self, session) -> None:
        session.events.register("before-send.cloudformation.SetStackPolicy", self.set_policy)
        session.events.register("before-send.cloudformation.GetStackPolicy", self.get_policy)

    @staticmethod
    def _form(request) -> dict[str, str]:
        raw = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        return {k: v[0] for k, v in parse_qs(raw).items()}

    def _xml(self, operation: str, result: str = "") -> AWSResponse:
        body = (f'<{operation}Response xmlns="{self.XMLNS}">{result}<ResponseMetadata>'
                f"<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata></{operation}Response>")
        return response(200, body.encode(), {"Content-Type": "text/xml"})

    def set_policy(self, request, **_):
        form = self._form(request)
        self.calls.append("SetStackPolicy")
        self.bodies[form["StackName"]] = form["StackPolicyBody"]
        return self._xml("SetStackPolicy")

    def get_policy(self, request, **_):
        form = self._form(request)
        self.calls.append("GetStackPolicy")
        text = self.bodies.get(form["StackName"])
        result = f"<StackPolicyBody>{escape(text)}</StackPolicyBody>" if text is not None else ""
        return self._xml("GetStackPolicy", f"<GetStackPolicyResult>{result}</GetStackPolicyResult>")


class SentChangeSets(dict):
    """Each CreateChangeSet's form body as it goes on the wire (before-send), by stack name. LocalStack accepts
    RollbackConfiguration but does not record it on the stack, so the request is where it can be seen."""

    def hook(self, request, **_):
        raw = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        self.setdefault(form["StackName"], []).append(form)

    @property
    def hooks(self):
        return [("before-send.cloudformation.CreateChangeSet", self.hook)]


def triggers(form: dict) -> list[str] | None:
    """The rollback-trigger ARNs a CreateChangeSet sent; [] for an explicit empty list, None when it sent none."""
    if not any(k.startswith("RollbackConfiguration.") for k in form):
        return None
    return [v for k, v in sorted(form.items()) if k.startswith("RollbackConfiguration.RollbackTriggers.member.")
            and k.endswith(".Arn")]


class Calls(list):
    """Every AWS API call a session makes, by operation name ("cloudformation.CreateChangeSet"), in order."""

    @property
    def names(self) -> list[str]:
        return list(self)

    def hook(self, model, **_):
        self.append(f"{model.service_model.service_name}.{model.name}")

    def count(self, name: str) -> int:
        """Calls of ``name``: "service.Operation", or "Operation" of any service."""
        return sum(1 for n in self if n == name or n.endswith("." + name))

    def attach(self, session) -> None:
        session.events.register("before-call", self.hook)


class Stubbers(dict):
    """botocore Stubbers by service name, activated and deactivated together (``with Stubbers(...) as s:``);
    ``clients`` hands their clients to the harness."""

    def __enter__(self):
        for stub in self.values():
            stub.activate()
        return self

    def __exit__(self, *exc):
        for stub in self.values():
            stub.deactivate()

    @property
    def clients(self) -> dict:
        return {name: stub.client for name, stub in self.items()}


def caller_identity(account: str, arn: str | None = None):
    """STS GetCallerIdentity answered as ``account`` (AWS's query-protocol XML), for runs whose AWS is
    Stubbers only, and for the account pin's tests (another account than the params pin)."""
    arn = arn or f"arn:aws:sts::{account}:assumed-role/deployer/test"

    def handler(request, **_):
        body = ('<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                f"<GetCallerIdentityResult><Arn>{escape(arn)}</Arn><UserId>AROATEST:test</UserId>"
                f"<Account>{account}</Account></GetCallerIdentityResult>"
                "<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId>"
                "</ResponseMetadata></GetCallerIdentityResponse>")
        return response(200, body.encode(), {"Content-Type": "text/xml"})

    return handler
