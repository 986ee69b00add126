"""The repository's lifecycle rules, evaluated as ECR evaluates them (no emulator applies lifecycle policies).

ECR's rules ("Lifecycle policy evaluation rules", Amazon ECR User Guide), as ``expired`` implements them:
- every rule sees every image; the rules are then applied by rulePriority, lowest first;
- an image whose tags match a rule (it is "identified" by it) can never be expired by a later rule, though later
  rules still count it;
- tagStatus tagged + tagPrefixList: an image matches when every prefix matches one of its tags; untagged: no
  tag; any: every image;
- imageCountMoreThan N: the matching images, youngest first, past the N-th are expired; sinceImagePushed N days:
  the matching images pushed more than N days ago are expired;
- rule shape: unique priorities, at most one rule selects untagged images, `any` comes last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

import contract
from templates import data

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Image:
    digest: str
    tags: tuple[str, ...]
    pushed: datetime


def identified(selection: dict, image: Image) -> bool:
    status = selection["tagStatus"]
    if status == "any":
        return True
    if status == "untagged":
        return not image.tags
    prefixes = selection["tagPrefixList"]
    return bool(image.tags) and all(any(t.startswith(p) for t in image.tags) for p in prefixes)


def marked(selection: dict, images: list[Image], now: datetime) -> list[Image]:
    matching = sorted((i for i in images if identified(selection, i)), key=lambda i: i.pushed, reverse=True)
    if selection["countType"] == "imageCountMoreThan":
        return matching[selection["countNumber"]:]
    assert selection["countType"] == "sinceImagePushed" and selection["countUnit"] == "days"
    return [i for i in matching if now - i.pushed > timedelta(days=selection["countNumber"])]


def expired(rules: list[dict], images: list[Image], now: datetime = NOW) -> set[str]:
    protected: set[str] = set()  # identified by a rule applied earlier
    gone: set[str] = set()
    for rule in sorted(rules, key=lambda r: r["rulePriority"]):
        assert rule["action"] == {"type": "expire"}
        gone |= {i.digest for i in marked(rule["selection"], images, now) if i.digest not in protected}
        protected |= {i.digest for i in images if identified(rule["selection"], i)}
    return gone


def test_the_rules_have_a_shape_ecr_accepts():
    rules = data.lifecycle_rules()
    priorities = [r["rulePriority"] for r in rules]
    assert len(set(priorities)) == len(priorities)
    assert sum(r["selection"]["tagStatus"] == "untagged" for r in rules) <= 1
    last = max(rules, key=lambda r: r["rulePriority"])
    assert [r for r in rules if r["selection"]["tagStatus"] == "any"] in ([], [last])
    prefixes = [tuple(r["selection"]["tagPrefixList"]) for r in rules if "tagPrefixList" in r["selection"]]
    assert len(set(prefixes)) == len(prefixes)


def repository() -> list[Image]:
    """30 builds pushed a day apart (newest first: build-00 today), three of them released (one in two
    environments, and the oldest release long past every age limit), and untagged leftovers."""
    builds = [Image(f"sha256:build{n:02d}", (f"build-{n:02d}",), NOW - timedelta(days=n)) for n in range(30)]
    builds += [Image(f"sha256:old{n:02d}", (f"old-{n:02d}",), NOW - timedelta(days=60 + n)) for n in range(5)]
    released = {
        "sha256:build03": ("build-03", "latest", "release-staging-20261129T120000Z", "release-prod-20261129T130000Z"),
        "sha256:build20": ("build-20", "release-prod-20261112T120000Z"),
    }
    images = [Image(i.digest, released.get(i.digest, i.tags), i.pushed) for i in builds]
    images.append(Image("sha256:rollback", ("0123abc", "release-prod-20250101T000000Z"), NOW - timedelta(days=700)))
    images += [Image(f"sha256:untagged{n}", (), NOW - timedelta(days=n * 4)) for n in range(4)]  # 0, 4, 8, 12 days
    return images


def test_released_images_stay_however_many_builds_are_pushed_and_the_rest_expires_by_age():
    gone = expired(data.lifecycle_rules(), repository())
    # Every release of every environment, the running one and each rollback target, old or new.
    assert not gone & {"sha256:build03", "sha256:build20", "sha256:rollback"}
    # Builds nobody released: kept for BUILD_TAG_DAYS, then expired.
    assert {f"sha256:build{n:02d}" for n in range(30) if n > data.BUILD_TAG_DAYS} <= gone
    assert not gone & {f"sha256:build{n:02d}" for n in range(30) if n <= data.BUILD_TAG_DAYS}
    assert {f"sha256:old{n:02d}" for n in range(5)} <= gone
    # Untagged leftovers: UNTAGGED_DAYS.
    assert {"sha256:untagged2", "sha256:untagged3"} <= gone and not gone & {"sha256:untagged0", "sha256:untagged1"}


def test_a_burst_of_pushes_expires_nothing_that_runs():
    """The original policy kept the last 10 images of any tag: ten pushes from master expired the running image."""
    running = Image("sha256:running", ("0123abc", "release-prod-20261201T000000Z"), NOW - timedelta(days=1))
    burst = [Image(f"sha256:push{n}", (f"push-{n}",), NOW - timedelta(minutes=n)) for n in range(50)]
    assert "sha256:running" not in expired(data.lifecycle_rules(), [running, *burst])
    original = [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                                  "countNumber": 10}, "action": {"type": "expire"}}]
    assert "sha256:running" in expired(original, [running, *burst])  # the evaluator sees the old failure


def test_the_release_rule_keeps_the_prefix_the_deployer_tags_with():
    (keep,) = [r for r in data.lifecycle_rules() if r["selection"].get("tagPrefixList")]
    assert keep["selection"]["tagPrefixList"] == [contract.RELEASE_TAG_PREFIX]
    assert contract.release_tag("prod", NOW, "sha256:" + "0" * 64).startswith(contract.RELEASE_TAG_PREFIX)
    assert keep["rulePriority"] == min(r["rulePriority"] for r in data.lifecycle_rules())


@pytest.mark.parametrize("releases", [3, data.KEEP_RELEASES + 2])
def test_only_releases_past_the_count_ever_go(releases):
    images = [Image(f"sha256:r{n}", (f"release-prod-{n:05d}",), NOW - timedelta(days=n)) for n in range(releases)]
    assert expired(data.lifecycle_rules(), images) == {f"sha256:r{n}" for n in range(data.KEEP_RELEASES, releases)}
