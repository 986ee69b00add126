"""A run's context: what the command line chose (params, the stack graph, the selected stacks and their
plans), where it prints, and its one way to AWS.

``aws()`` makes the run's AWS session on first use and hands the same one back after: every verb's calls
share one session, one set of clients and one retry policy, and bad input, found before, never makes one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import templates
from deployer import aws as aws_module
from deployer.engine import events, plan, preflight
from deployer.engine import image as image_module
from deployer.output import Printer
from templates.params import Params, load_params


@dataclass
class Context:
    params: Params
    graph: Sequence[templates.Stack]  # the whole stack graph (templates.STACKS; tests pass their own)
    selected: list[templates.Stack]  # what --stacks picked, in graph order
    plans: list[plan.StackPlan]  # rendered and checked (empty for verbs that render nothing)
    out: Printer
    connect: Callable[[str], aws_module.Aws] = aws_module.connect
    poll_delay: float = events.POLL_DELAY
    interactive: bool = False  # a terminal to ask questions on (standard input is one)
    image: image_module.Request | None = None  # --image-tag or --image-digest; None: keep the running one
    # The promotion source's params (its account, region and project name its ledger): params/SOURCE.yaml, as
    # the repository holds it. Never from the command line: a source named there could be any bucket.
    source_params: Callable[[str], Params] = load_params
    # The promotion gate's class (None: verbs.verb.Promotion). A test seam of cli.main only, as ``connect`` is:
    # tests of something else run prod where no staging ledger exists (testkit/harness.py). deploy.py passes none.
    promotion_gate: Callable | None = None
    _aws: aws_module.Aws | None = field(default=None, repr=False)
    _identity: preflight.Identity | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def aws(self) -> aws_module.Aws:
        """The run's one AWS session (made on first use, in params' region), whose first call checks the
        caller is in the environment's account (exit 2 otherwise: nothing else is called)."""
        with self._lock:
            if self._aws is None:
                session = self.connect(self.params["region"])
                self._identity = preflight.pinned_identity(session, self.params)
                self._aws = session
            return self._aws

    def identity(self) -> preflight.Identity:
        """Who the run's credentials are (read once, by the account check)."""
        self.aws()
        return self._identity
