"""The API's ECS service as the operator sees it: its tasks and deployments, why a task stopped, the last
lines that task logged, and a restart (force-new-deployment, then wait until the service is stable).

Plain functions over boto3 clients (``ecs``, ``logs``, ``elbv2``), so tests can point them anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.exceptions import WaiterError

import contract
from deployer.errors import DeployError

# services_stable polls DescribeServices; its stock 15 s x 40 is a fixed 10 minutes. A rolling restart with
# minimum healthy 100% (start new task, pass the ALB health check, drain the old one) takes 2-6 minutes:
# 10 s keeps the progress lines timely, 90 attempts bound the wait at 15 minutes.
RESTART_DELAY = 10
RESTART_MAX_ATTEMPTS = 90

LOG_TAIL_LINES = 20


@dataclass
class Deployment:
    id: str
    status: str  # PRIMARY (the one rolling out) | ACTIVE (the one being replaced) | INACTIVE
    task_definition: str
    desired: int
    running: int
    pending: int
    failed: int
    rollout: str  # IN_PROGRESS | COMPLETED | FAILED ("" on services without the circuit breaker)
    rollout_reason: str


@dataclass
class Service:
    cluster: str
    name: str
    status: str
    desired: int
    running: int
    pending: int
    task_definition: str
    deployments: list[Deployment] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # newest first

    @property
    def primary(self) -> Deployment | None:
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)


def names(project: str) -> tuple[str, str]:
    """(cluster, service): the names compute gives them, from templates/contract.py."""
    return contract.resource_name("cluster", project), contract.resource_name("service", project)


def _deployment(d: dict) -> Deployment:
    return Deployment(
        id=d.get("id", ""), status=d.get("status", ""), task_definition=d.get("taskDefinition", ""),
        desired=d.get("desiredCount", 0), running=d.get("runningCount", 0), pending=d.get("pendingCount", 0),
        failed=d.get("failedTasks", 0), rollout=d.get("rolloutState", ""),
        rollout_reason=d.get("rolloutStateReason", ""),
    )


def parse_service(s: dict, cluster: str) -> Service:
    return Service(
        cluster=cluster, name=s["serviceName"], status=s.get("status", ""),
        desired=s.get("desiredCount", 0), running=s.get("runningCount", 0), pending=s.get("pendingCount", 0),
        task_definition=s.get("taskDefinition", ""),
        deployments=[_deployment(d) for d in s.get("deployments", [])],
        events=[e.get("message", "") for e in s.get("events", [])],
    )


def describe(ecs, cluster: str, service: str) -> Service | None:
    """None when the cluster or the service does not exist (compute not deployed, or deleted)."""
    try:
        resp = ecs.describe_services(cluster=cluster, services=[service])
    except ecs.exceptions.ClusterNotFoundException:
        return None
    found = [s for s in resp.get("services", []) if s.get("status") != "INACTIVE"]
    return parse_service(found[0], cluster) if found else None


def short_task_definition(arn: str) -> str:
    """family:revision, from arn:aws:ecs:...:task-definition/family:revision."""
    return arn.rsplit("/", 1)[-1]


def image(ecs, task_definition: str, container: str = contract.CONTAINER_NAME) -> str:
    td = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    for c in td.get("containerDefinitions", []):
        if c.get("name") == container:
            return c.get("image", "")
    return ""


def image_tag(image_uri: str) -> str:
    """The tag of REPO:TAG ("" for a digest or an untagged image); a registry port is not a tag."""
    last = image_uri.rsplit("/", 1)[-1]
    if "@" in last or ":" not in last:
        return ""
    return last.rsplit(":", 1)[1]


def latest_stopped_task(ecs, cluster: str, service: str) -> dict | None:
    """The most recently stopped task of the service (ECS keeps stopped tasks for about an hour)."""
    arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED").get("taskArns", [])
    if not arns:
        return None
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns[:100]).get("tasks", [])
    stopped = [t for t in tasks if t.get("stoppedAt") or t.get("stoppingAt")]
    if not stopped:
        return None
    return max(stopped, key=lambda t: t.get("stoppedAt") or t.get("stoppingAt"))


def stopped_reason(task: dict) -> str:
    """ECS's reason plus each container's (exit code, OOM, image pull, secret...): the cause is usually there."""
    parts = [task.get("stoppedReason", "") or task.get("stopCode", "") or "no reason given"]
    for c in task.get("containers", []):
        bits = []
        if c.get("exitCode") is not None:
            bits.append(f"exit code {c['exitCode']}")
        if c.get("reason"):
            bits.append(c["reason"])
        if bits:
            parts.append(f"container {c.get('name', '?')}: {', '.join(bits)}")
    return "; ".join(parts)


def task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def task_log_stream(task_arn: str, container: str = contract.CONTAINER_NAME) -> str:
    # awslogs names a task's stream {awslogs-stream-prefix}/{container}/{task id}; compute's prefix is the
    # container name.
    return f"{contract.CONTAINER_NAME}/{container}/{task_id(task_arn)}"


def log_tail(logs, group: str, stream: str | None = None, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` messages of ``stream`` (of the most recently written stream when None or gone)."""
    if stream is not None:
        try:
            events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=False,
                                         limit=lines).get("events", [])
            return [e.get("message", "").rstrip("\n") for e in events]
        except logs.exceptions.ResourceNotFoundException:
            pass  # the task never got as far as logging (image pull, secret): fall back to the newest stream
    try:
        newest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True,
                                           limit=1).get("logStreams", [])
    except logs.exceptions.ResourceNotFoundException:
        return []
    if not newest:
        return []
    return log_tail(logs, group, newest[0]["logStreamName"], lines)


def target_health(elbv2, target_group_arn: str) -> list[dict]:
    """[{"id", "port", "state", "reason"}] of the target group's registered targets."""
    rows = []
    for d in elbv2.describe_target_health(TargetGroupArn=target_group_arn).get("TargetHealthDescriptions", []):
        health = d.get("TargetHealth", {})
        reason = " ".join(x for x in (health.get("Reason", ""), health.get("Description", "")) if x)
        rows.append({"id": d["Target"]["Id"], "port": d["Target"].get("Port"), "state": health.get("State", ""),
                     "reason": reason})
    return rows


def force_new_deployment(ecs, cluster: str, service: str) -> str:
    """Start a new deployment of the same task definition (tasks re-read the secret); returns its id."""
    resp = ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
    primary = parse_service(resp["service"], cluster).primary
    return primary.id if primary else ""


def progress_line(svc: Service) -> str:
    parts = [f"{svc.running}/{svc.desired} running, {svc.pending} pending"]
    for d in svc.deployments:
        rollout = f" {d.rollout}" if d.rollout else ""
        parts.append(f"{d.status.lower()} {short_task_definition(d.task_definition)}{rollout}: "
                     f"{d.running}/{d.desired} running")
    return "; ".join(parts)


def wait_stable(ecs, cluster: str, service: str, deployment_id: str, say: Callable[[str], None],
                delay: float | None = None, max_attempts: int | None = None,
                sleep: Callable[[float], None] = time.sleep) -> Service:
    """Wait with botocore's ``services_stable`` (one deployment left, running == desired), one attempt at a
    time so that each poll prints a progress line; raise DeployError when our deployment fails or the bound
    passes.

    "Stable" alone is not success: when the circuit breaker rolls our deployment back, the service becomes
    stable again on the old one. So the deployment we started must be the one left, and not FAILED.
    """
    # Read at call time, not bound as defaults, so a test can shorten them for the whole CLI.
    delay = RESTART_DELAY if delay is None else delay
    max_attempts = RESTART_MAX_ATTEMPTS if max_attempts is None else max_attempts
    waiter = ecs.get_waiter("services_stable")
    for attempt in range(1, max_attempts + 1):
        try:
            waiter.wait(cluster=cluster, services=[service], WaiterConfig={"Delay": 0, "MaxAttempts": 1})
            break
        except WaiterError as exc:
            last = exc.last_response or {}
            services = last.get("services") or []
            if "Max attempts exceeded" not in str(exc) or not services:
                # A terminal acceptor (service MISSING, DRAINING, INACTIVE) or an API error.
                raise DeployError(f"service {service} in {cluster}: {exc}") from None
            svc = parse_service(services[0], cluster)
            ours = next((d for d in svc.deployments if d.id == deployment_id), None)
            if ours is not None and ours.rollout == "FAILED":
                raise DeployError(
                    f"deployment {deployment_id} failed: {ours.rollout_reason or 'no reason given'}") from None
            say(f"[{attempt}/{max_attempts}] {progress_line(svc)}")
        if attempt < max_attempts:
            sleep(delay)
    else:
        raise DeployError(f"service {service} not stable after {max_attempts} checks {delay:g} s apart; "
                          f"see `deploy.py ENV status`")
    svc = describe(ecs, cluster, service)
    primary = svc.primary if svc else None
    if deployment_id and (primary is None or primary.id != deployment_id):
        reason = primary.rollout_reason if primary else ""
        raise DeployError(f"deployment {deployment_id} was rolled back by the circuit breaker"
                          + (f": {reason}" if reason else ""))
    say(f"stable: {progress_line(svc)}")
    return svc


def restart(ecs, cluster: str, service: str, say: Callable[[str], None], delay: float | None = None,
            max_attempts: int | None = None, sleep: Callable[[float], None] = time.sleep) -> Service:
    """The original CDK design's `aws ecs update-service --force-new-deployment`, then wait until it has rolled out."""
    deployment_id = force_new_deployment(ecs, cluster, service)
    say(f"new deployment {deployment_id} of {service} in {cluster}; waiting for it to be stable")
    return wait_stable(ecs, cluster, service, deployment_id, say, delay, max_attempts, sleep)
