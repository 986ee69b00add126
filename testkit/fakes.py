"""Test doubles at the HTTP boundary: botocore ``before-send`` hooks that answer one AWS operation with a
canned response shaped like AWS's, everything else going on to the endpoint. The deployer's code, its
retry policy and botocore's parsing all run for real."""

from __future__ import annotations

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


def ecr_image(tag: str = "latest", exists: bool = True):
    """ECR DescribeImages (not in community LocalStack): the image exists, or AWS's ImageNotFoundException."""

    def handler(request, **_):
        if exists:
            body = {"imageDetails": [{"registryId": "000000000000", "repositoryName": "x",
                                      "imageDigest": "sha256:" + "0" * 64, "imageTags": [tag]}]}
            return response(200, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.1"})
        body = {"__type": "ImageNotFoundException",
                "message": f"The image with imageId {{imageDigest:'null', imageTag:'{tag}'}} does not exist "
                           "within the repository with name 'x' in the registry with id '000000000000'"}
        return response(400, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.1"})

    return handler


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
                    "message": f"Image scan does not exist for the image with '{{imageDigest:'null', imageTag:"
                               f"'{image.get('imageTag')}'}}' in the repository with name '{repository}' in the "
                               "registry with id '000000000000'"}
            return response(400, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.1"})
        counts: dict[str, int] = {}
        for f in findings:
            counts[f["severity"]] = counts.get(f["severity"], 0) + 1
        body = {"registryId": "000000000000", "repositoryName": repository,
                "imageId": {"imageDigest": "sha256:" + "0" * 64, **image},
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
