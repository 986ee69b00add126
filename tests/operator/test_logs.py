"""`logs` against moto's CloudWatch Logs (FilterLogEvents over every stream of the container log group)."""

from __future__ import annotations

import time

import boto3

from deployer.engine import logs as log_reader
from testkit.placeholders import PROD
from tests.operator.conftest import PROJECT, REGION, run

GROUP = f"/ecs/{PROJECT}/api"


def put(client, stream: str, *events: tuple[int, str]) -> None:
    try:
        client.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    except client.exceptions.ResourceAlreadyExistsException:
        pass
    client.put_log_events(logGroupName=GROUP, logStreamName=stream,
                          logEvents=[{"timestamp": t, "message": m} for t, m in events])


def test_since_prints_both_tasks_streams_oldest_first_and_nothing_older(moto, capsys):
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=GROUP)
    now = int(time.time() * 1000)
    put(logs, "api/api/task-a", (now - 20 * 60_000, "too old"), (now - 4 * 60_000, "a: started"),
        (now - 1 * 60_000, "a: GET / 200"))
    put(logs, "api/api/task-b", (now - 2 * 60_000, "b: started"))
    result = run([*PROD, "logs", "--since", "5m"])
    assert result.code == 0, result.out
    lines = result.out.splitlines()
    assert [x.split(" ", 2)[1:] for x in lines] == [
        ["api/api/task-a", "a: started"], ["api/api/task-b", "b: started"], ["api/api/task-a", "a: GET / 200"]]
    assert lines[0].split(" ")[0].endswith("+00:00")  # ISO time, UTC, like aws logs tail


def test_follow_prints_new_events_once(moto):
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=GROUP)
    now = int(time.time() * 1000)
    put(logs, "api/api/t1", (now - 1000, "first"))
    printed: list[str] = []
    arrivals = iter([[(now - 1000, "same millisecond, other task")], [(now + 5, "later")], []])

    def sleep(_):  # between polls, the service logs more (same timestamp as the last one seen, then later)
        batch = next(arrivals)
        if batch:
            put(logs, "api/api/t2", *batch)

    count = log_reader.tail(logs, GROUP, 60, printed.append, follow=True, poll=0, sleep=sleep, max_polls=4)
    messages = [x.split(" ", 2)[2] for x in printed]
    assert messages == ["first", "same millisecond, other task", "later"]
    assert count == 3


def test_filter_pattern_is_passed_to_cloudwatch(moto, capsys):
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=GROUP)
    now = int(time.time() * 1000)
    put(logs, "api/api/t1", (now - 3000, "INFO ok"), (now - 2000, "ERROR boom"))
    result = run([*PROD, "logs", "--filter", "ERROR"])
    assert result.code == 0
    assert "ERROR boom" in result.out and "INFO ok" not in result.out


def test_missing_log_group_says_compute_is_not_deployed(moto, capsys):
    result = run([*PROD, "logs"])
    assert result.code == 1
    assert f"log group {GROUP} does not exist" in result.err


def test_ctrl_c_ends_follow_cleanly(moto, capsys, monkeypatch):
    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(log_reader, "fetch", interrupted)
    result = run([*PROD, "logs", "--follow"])
    assert result.code == 0
    assert "Traceback" not in result.err and "interrupted" not in result.out
