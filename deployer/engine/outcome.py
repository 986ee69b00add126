"""What a run does with a change set (``Mode``), and how each stack ended (``Outcome``, ``Result``).

String enums: their values are what the operator reads in the result table, and they compare equal to
those strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from deployer.engine.changesets import ChangeSet


class Mode(StrEnum):
    EXECUTE = "execute"  # deploy: execute the change set (after confirming, unless --yes)
    REVIEW = "review"  # --no-execute: leave it for review in the console
    DIFF = "diff"  # print it, then delete it


class Outcome(StrEnum):
    UNCHANGED = "unchanged"  # template, parameters and tags as deployed: no change set made
    NO_CHANGES = "no changes"  # a change set was made and had nothing to do (deleted)
    CREATED = "created"
    UPDATED = "updated"
    CHANGES = "changes"  # diff: there is something to change
    PENDING_REVIEW = "pending review"  # --no-execute: the change set waits in the console
    FAILED = "failed"
    NOT_STARTED = "not started"  # a stack it depends on failed, or another failed first
    ADOPTED = "adopted"  # retained resources imported (IMPORT change set), nothing else to change
    ADOPTED_UPDATED = "adopted, updated"  # imported, then the UPDATE with the full template


@dataclass
class Result:
    key: str
    outcome: Outcome
    change_set: ChangeSet | None = None
    message: str = ""
    events: list = field(default_factory=list)
    validation: list = field(default_factory=list)  # cfn_events.Found: what CloudFormation's validation noticed

    @property
    def ok(self) -> bool:
        return self.outcome not in (Outcome.FAILED, Outcome.NOT_STARTED)
