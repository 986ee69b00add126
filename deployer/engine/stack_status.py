"""What a status means: the one place that reads CloudFormation's (and the few other) status words.

CloudFormation spells a stack's state as OPERATION_PHASE (``UPDATE_ROLLBACK_COMPLETE``...). The engine asks
whether a stack can take a change set, is busy or has settled; the terminal asks how to colour a word. Both
read this module, so a status never means one thing to the scheduler and another on screen.
"""

from __future__ import annotations

from enum import StrEnum

# States a stack that was deployed before can be updated from.
STABLE = frozenset({
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
})

# An operation is running: CloudFormation accepts no change set until it ends. REVIEW_IN_PROGRESS is not one
# of them: a stack created by a change set nobody executed waits for nothing.
BUSY = frozenset({
    "CREATE_IN_PROGRESS",
    "ROLLBACK_IN_PROGRESS",
    "DELETE_IN_PROGRESS",
    "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
    "IMPORT_IN_PROGRESS",
    "IMPORT_ROLLBACK_IN_PROGRESS",
})

# The operation did what it was asked (a rollback's COMPLETE is the stack back where it was, not success).
SUCCEEDED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})

# The stack's own status when CloudFormation starts undoing an operation (a rollback trigger fired during an
# update; a create watched by triggers rolls back too).
ROLLBACK_STARTED = frozenset({"UPDATE_ROLLBACK_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"})

# Words that are not CloudFormation's but are read beside its statuses: a stack's outcome in a run
# (engine/outcome.py) and an ECS deployment's rollout state.
_FAILED_WORDS = frozenset({"failed"})
_DONE_WORDS = frozenset({"created", "updated", "unchanged", "no changes", "COMPLETED"})
_PENDING_WORDS = frozenset({"changes", "pending review"})


class Meaning(StrEnum):
    FAILED = "failed"  # failed, or rolled back: something did not happen as asked
    DONE = "done"  # finished as asked
    PENDING = "pending"  # still going, or waiting for someone
    OTHER = "other"  # says nothing good or bad (IN_SYNC, NOT DEPLOYED...)


def meaning(status: str) -> Meaning:
    if "FAILED" in status or "ROLLBACK" in status or status in _FAILED_WORDS:
        return Meaning.FAILED
    if status.endswith("_COMPLETE") or status in _DONE_WORDS:
        return Meaning.DONE
    if "IN_PROGRESS" in status or status in _PENDING_WORDS:
        return Meaning.PENDING
    return Meaning.OTHER


def is_failure(status: str) -> bool:
    return meaning(status) == Meaning.FAILED


def is_settled(status: str) -> bool:
    """No phase still running: the status an operation ends in (a failed one too)."""
    return not status.endswith("_IN_PROGRESS")


def is_resource_failure(status: str) -> bool:
    """A resource's event that says it failed (CREATE_FAILED...), as against a rollback that undoes it."""
    return status.endswith("_FAILED")
