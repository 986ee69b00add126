"""What a status means (deployer/engine/stack_status.py): the one reading the scheduler, the status verb and
the terminal's colours share."""

from __future__ import annotations

import pytest

from deployer.engine.stack_status import BUSY, STABLE, SUCCEEDED, Meaning, is_failure, is_settled, meaning
from deployer.output import status_colour


@pytest.mark.parametrize(("status", "settled"), [
    ("UPDATE_IN_PROGRESS", False), ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", False),
    ("UPDATE_COMPLETE", True), ("UPDATE_ROLLBACK_COMPLETE", True), ("CREATE_FAILED", True),
])
def test_only_in_progress_states_are_not_settled(status, settled):
    assert is_settled(status) is settled


def test_success_is_the_three_complete_states_of_a_change():
    assert SUCCEEDED == {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}


def test_a_busy_stack_is_never_one_a_change_set_can_start_from_and_review_waits_for_nothing():
    assert not BUSY & STABLE
    assert all(not is_settled(s) for s in BUSY)
    assert "REVIEW_IN_PROGRESS" not in BUSY


@pytest.mark.parametrize(("status", "means"), [
    ("CREATE_FAILED", Meaning.FAILED), ("UPDATE_ROLLBACK_COMPLETE", Meaning.FAILED),
    ("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", Meaning.FAILED), ("ROLLBACK_IN_PROGRESS", Meaning.FAILED),
    ("failed", Meaning.FAILED), ("FAILED", Meaning.FAILED),  # an outcome; an ECS rollout
    ("UPDATE_COMPLETE", Meaning.DONE), ("IMPORT_COMPLETE", Meaning.DONE), ("unchanged", Meaning.DONE),
    ("no changes", Meaning.DONE), ("COMPLETED", Meaning.DONE),
    ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", Meaning.PENDING), ("REVIEW_IN_PROGRESS", Meaning.PENDING),
    ("IN_PROGRESS", Meaning.PENDING), ("pending review", Meaning.PENDING), ("changes", Meaning.PENDING),
    ("NOT DEPLOYED", Meaning.OTHER), ("IN_SYNC", Meaning.OTHER), ("not started", Meaning.OTHER),
])
def test_each_status_means_one_thing_and_the_terminal_colours_it_by_that(status, means):
    assert meaning(status) == means
    assert is_failure(status) is (means == Meaning.FAILED)
    assert status_colour(status) == {Meaning.FAILED: "red", Meaning.DONE: "green", Meaning.PENDING: "yellow",
                                     Meaning.OTHER: None}[means]
