"""Operator commands against moto (in-process AWS) where it emulates the service, botocore's Stubber where it
does not. ``run`` is the shared harness (testkit/harness.py): deploy.py's real main(), only the AWS swapped."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from moto import mock_aws

from deployer.engine import ecs_service
from testkit import fakes
from testkit.harness import Outcome, run  # noqa: F401 (the operator tests' harness)

REGION = "us-east-1"  # params/prod.yaml's
PROJECT = "ia-comafi"  # params/prod.yaml's project_name


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch):
    """Dummy credentials and no endpoint of anyone's: nothing here may reach a real AWS (or a LocalStack)."""
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    # restart waits 10 s between polls in real life; no test needs to.
    monkeypatch.setattr(ecs_service, "RESTART_DELAY", 0)


@pytest.fixture
def moto(monkeypatch):
    fakes.moto_without_describe_events(monkeypatch)
    with mock_aws():
        yield


class Tty(io.StringIO):
    """Standard input that says it is a terminal (what the operator types comes from the string)."""

    def isatty(self) -> bool:
        return True


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def client(service: str):
    """A real botocore client for Stubber (dummy credentials, never sends: Stubber answers before-call)."""
    return boto3.session.Session(region_name=REGION).client(service, region_name=REGION)


def cfn_stack(name: str, outputs: dict[str, str] | None = None, resources: dict | None = None,
              protected: bool = False) -> None:
    """A stack in moto, with these outputs (a placeholder resource, since a stack needs one)."""
    template = {
        "Resources": resources or {"Marker": {"Type": "AWS::SSM::Parameter",
                                              "Properties": {"Name": f"/stacks/{name}", "Type": "String",
                                                             "Value": name}}},
        "Outputs": {k: {"Value": v} for k, v in (outputs or {}).items()},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=name, TemplateBody=json.dumps(template), EnableTerminationProtection=protected)


def answer_termination_protection(calls: list[str] | None = None):
    """moto does not implement UpdateTerminationProtection (NotImplementedError): answer it as AWS does,
    {"StackId": ...}, at before-call, and record which stack and which way."""
    from botocore.awsrequest import AWSResponse

    def handler(params, **_):
        body = params["body"]
        if calls is not None:
            calls.append((body["StackName"], body["EnableTerminationProtection"]))
        stack_id = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{body['StackName']}/0"
        return AWSResponse("https://cloudformation", 200, {}, None), {
            "StackId": stack_id, "ResponseMetadata": {"HTTPStatusCode": 200}}

    return ("before-call.cloudformation.UpdateTerminationProtection", handler)


# ---- ECS as AWS answers it (for Stubber: moto's ECS never runs a task, so it never rolls out) ----

ACCOUNT = "123456789012"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{PROJECT}-cluster"
SERVICE_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{PROJECT}-cluster/{PROJECT}-api"


def task_definition_arn(revision: int) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{PROJECT}-api:{revision}"


def deployment(id_: str, status: str, revision: int, running: int, desired: int = 1, pending: int = 0,
               rollout: str = "IN_PROGRESS", reason: str = "", failed: int = 0) -> dict:
    import datetime as dt

    return {
        "id": id_, "status": status, "taskDefinition": task_definition_arn(revision), "desiredCount": desired,
        "pendingCount": pending, "runningCount": running, "failedTasks": failed,
        "createdAt": dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC),
        "updatedAt": dt.datetime(2024, 5, 1, 12, 1, tzinfo=dt.UTC),
        "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 1}],
        "platformVersion": "1.4.0", "platformFamily": "Linux",
        "rolloutState": rollout, "rolloutStateReason": reason or f"ECS deployment {id_} {rollout.lower()}.",
    }


def service(deployments: list[dict], desired: int = 1, running: int = 1, pending: int = 0, revision: int = 7,
            events: tuple[str, ...] = ()) -> dict:
    import datetime as dt

    return {
        "serviceArn": SERVICE_ARN, "serviceName": f"{PROJECT}-api", "clusterArn": CLUSTER_ARN, "status": "ACTIVE",
        "desiredCount": desired, "runningCount": running, "pendingCount": pending,
        "taskDefinition": task_definition_arn(revision), "deployments": deployments,
        "events": [{"id": str(i), "createdAt": dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC), "message": m}
                   for i, m in enumerate(events)],
        "launchType": "", "schedulingStrategy": "REPLICA", "deploymentController": {"type": "ECS"},
    }


def describe_services(svc: dict) -> dict:
    return {"services": [svc], "failures": []}


SERVICE_PARAMS = {"cluster": f"{PROJECT}-cluster", "services": [f"{PROJECT}-api"]}
