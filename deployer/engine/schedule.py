"""The stack graph, scheduled: every stack at once, each one changing as soon as the stacks it imports
from are done; after a failure nothing new starts.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from deployer.engine import flow
from deployer.engine.flow import Run
from deployer.engine.outcome import Mode, Outcome, Result
from deployer.engine.plan import StackPlan
from deployer.engine.report import NULL
from deployer.errors import DeployError


def run_graph(run: Run, plans: list[StackPlan], work: Callable[[Run, StackPlan], Result] = flow.deploy_stack,
              first_look: Callable[[Run, StackPlan], Result | None] | None = flow.inspect) -> list[Result]:
    """Every plan at once: ``first_look`` (may settle it), then, once the plans it depends on
    succeeded, ``work``. Stacks that do not depend on each other change at the same time.

    After a failure nothing new starts (stacks already changing finish: a
    CloudFormation operation cannot be abandoned halfway); the rest are "not started".
    """
    results: dict[str, Result] = {}
    finished = {p.key: threading.Event() for p in plans}
    failed = threading.Event()

    # A live line per stack on a terminal while stacks change (the tracker does nothing elsewhere).
    out = getattr(run, "out", None)  # (unit tests schedule plain functions, with no run at all)
    executing = out is not None and run.mode == Mode.EXECUTE
    live = out.progress([p.key for p in plans]) if executing else contextlib.nullcontext()

    def one(p: StackPlan) -> None:
        track = out.tracker if out is not None else NULL
        try:
            result = _guarded(first_look, run, p) if first_look else None
            if result is None:
                if p.depends_on:
                    track.update(p.key, status="after " + ", ".join(p.depends_on))
                for dep in p.depends_on:
                    finished[dep].wait()
                if failed.is_set() or not all(results[d].ok for d in p.depends_on):
                    result = Result(p.key, Outcome.NOT_STARTED)
                else:
                    track.begin(p.key, "preparing")
                    result = _guarded(work, run, p)
        except BaseException:
            result = Result(p.key, Outcome.FAILED, message="unexpected error")
            raise
        finally:
            results[p.key] = result
            if result.outcome == Outcome.FAILED:
                failed.set()
            track.finish(p.key, str(result.outcome), failed=result.outcome == Outcome.FAILED)
            finished[p.key].set()

    with live, ThreadPoolExecutor(max_workers=max(1, len(plans))) as pool:
        for future in [pool.submit(one, p) for p in plans]:
            future.result()  # re-raises a bug (anything _guarded does not turn into a Result)
    return [results[p.key] for p in plans]


def _guarded(work, run: Run, plan: StackPlan) -> Result:
    """A stack's failure as a Result (printed once, here), so that other threads carry on."""
    try:
        return work(run, plan)
    except DeployError as exc:
        message = str(exc)
    except WaiterError as exc:
        message = f"{plan.name}: gave up waiting: {exc}"
    except (ClientError, BotoCoreError) as exc:
        message = f"{plan.name}: AWS error: {exc}"
    for text in message.splitlines():
        run.out.error(text, plan.key)
    return Result(plan.key, Outcome.FAILED, message=message)
