"""`restart`: force-new-deployment, then botocore's services_stable waiter until our deployment is the only one.

Stubber, not moto: moto's ECS records a service but never starts a task, so a deployment never rolls out,
never fails and the waiter never succeeds. The responses are DescribeServices/UpdateService as AWS sends
them during a rolling restart (two deployments, then one), a circuit-breaker failure, a rollback.
"""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from deployer.engine import ecs_service
from deployer.errors import DeployError
from testkit.placeholders import PROD
from tests.operator.conftest import (
    SERVICE_PARAMS,
    client,
    deployment,
    describe_services,
    run,
    service,
)

OLD = "ecs-svc/1111111111111111111"
NEW = "ecs-svc/2222222222222222222"
UPDATE_PARAMS = {"cluster": "ia-comafi-cluster", "service": "ia-comafi-api", "forceNewDeployment": True}


def rolling(new_running: int, old_running: int = 1) -> dict:
    return service([deployment(NEW, "PRIMARY", 7, new_running), deployment(OLD, "ACTIVE", 7, old_running,
                                                                           rollout="COMPLETED")],
                   running=new_running + old_running)


def done() -> dict:
    return service([deployment(NEW, "PRIMARY", 7, 1, rollout="COMPLETED")])


def stub_restart(stub: Stubber, polls: list[dict], final: dict | None = None) -> None:
    stub.add_response("update_service", {"service": rolling(0)}, UPDATE_PARAMS)
    for svc in polls:
        stub.add_response("describe_services", describe_services(svc), SERVICE_PARAMS)
    if final is not None:
        stub.add_response("describe_services", describe_services(final), SERVICE_PARAMS)


def test_restart_forces_a_deployment_and_waits_until_it_is_the_only_one(capsys):
    ecs = client("ecs")
    with Stubber(ecs) as stub:
        stub_restart(stub, [rolling(0), rolling(1), done()], final=done())
        result = run([*PROD, "restart"], clients={"ecs": ecs})
        stub.assert_no_pending_responses()
    assert result.code == 0, result.out
    assert result.calls[:2] == ["sts.GetCallerIdentity", "ecs.UpdateService"]  # the account pin first
    assert result.calls.count("ecs.DescribeServices") == 4  # three waiter polls, then the final look
    progress = [x for x in result.out.splitlines() if x.startswith("[")]
    assert progress == [
        "[1/90] 1/1 running, 0 pending; primary ia-comafi-api:7 IN_PROGRESS: 0/1 running; "
        "active ia-comafi-api:7 COMPLETED: 1/1 running",
        "[2/90] 2/1 running, 0 pending; primary ia-comafi-api:7 IN_PROGRESS: 1/1 running; "
        "active ia-comafi-api:7 COMPLETED: 1/1 running",
    ]
    assert "stable:" in result.out and result.out.rstrip().endswith("restarted")


def test_a_deployment_the_circuit_breaker_failed_exits_1_with_its_reason(capsys):
    ecs = client("ecs")
    failed = service([deployment(NEW, "PRIMARY", 7, 0, rollout="FAILED", failed=3,
                                 reason="ECS deployment circuit breaker: tasks failed to start."),
                      deployment(OLD, "ACTIVE", 7, 1, rollout="COMPLETED")], running=1)
    with Stubber(ecs) as stub:
        stub_restart(stub, [rolling(0), failed])
        result = run([*PROD, "restart"], clients={"ecs": ecs})
    assert result.code == 1
    assert f"deployment {NEW} failed: ECS deployment circuit breaker: tasks failed to start." in result.err


def test_stable_again_on_another_deployment_is_a_rollback_not_a_success(capsys):
    # The breaker's rollback makes the service stable on a deployment we did not start: services_stable
    # succeeds, the restart did not.
    ecs = client("ecs")
    rolled_back = service([deployment("ecs-svc/3333333333333333333", "PRIMARY", 7, 1, rollout="COMPLETED",
                                      reason="ECS deployment ecs-svc/3333333333333333333 completed.")])
    with Stubber(ecs) as stub:
        stub_restart(stub, [rolled_back], final=rolled_back)
        result = run([*PROD, "restart"], clients={"ecs": ecs})
    assert result.code == 1
    assert f"deployment {NEW} was rolled back by the circuit breaker" in result.err


def test_the_wait_is_bounded():
    ecs = client("ecs")
    slept = []
    with Stubber(ecs) as stub:
        for _ in range(3):
            stub.add_response("describe_services", describe_services(rolling(0)), SERVICE_PARAMS)
        with pytest.raises(DeployError, match="not stable after 3 checks 7 s apart"):
            ecs_service.wait_stable(ecs, "ia-comafi-cluster", "ia-comafi-api", NEW, lambda _: None, delay=7,
                                    max_attempts=3, sleep=slept.append)
    assert slept == [7, 7]  # between the attempts, not after the last


def test_a_missing_service_is_a_clear_failure(capsys):
    ecs = client("ecs")
    with Stubber(ecs) as stub:
        stub.add_client_error("update_service", "ServiceNotFoundException",
                              "Service not found.", 400, expected_params=UPDATE_PARAMS)
        result = run([*PROD, "restart"], clients={"ecs": ecs})
    assert result.code == 1
    assert "ServiceNotFoundException" in result.err and "Traceback" not in result.err
