"""Adoption: a stack about to be created takes back the retained resources an earlier `destroy` left behind.

`destroy` keeps every resource marked DeletionPolicy Retain (the app secret, the
unhandled-queries bucket, the image repository, the ALB's log bucket, the log groups). Their names are fixed, so
creating the stack again would fail on "already exists". Instead, before a
stack is created, each retained resource with a fixed name is looked up; those
that exist are brought into the stack first by an IMPORT change set, and the
usual UPDATE change set with the full template follows.

What is adopted is derived from the rendered template, never listed here: a
resource with DeletionPolicy Retain, of a type in ``KINDS``, whose name property
resolves (Fn::Sub over parameters and pseudo parameters) to a plain string.

Why not CloudFormation's own auto-import (CreateChangeSet ImportExistingResources)?
It needs a static name in the template ("Dynamic names (using !Ref or other
functions) are not currently supported"), and ours are Fn::Sub over ProjectName.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from deployer.engine import guard
from deployer.errors import DeployError


class _Unknown(Exception):
    """The existence check could not answer (access denied, service unavailable...)."""


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _bucket(aws, name: str) -> str | None:
    try:
        aws.client("s3").head_bucket(Bucket=name)
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return None
        # 403: the name is taken by a bucket we may not read (another account's, or no s3:ListBucket).
        raise _Unknown(f"HeadBucket: {_code(exc)} {exc.response.get('Error', {}).get('Message', '')}".strip()) from None
    return name


def _repository(aws, name: str) -> str | None:
    try:
        aws.client("ecr").describe_repositories(repositoryNames=[name])
    except ClientError as exc:
        if _code(exc) == "RepositoryNotFoundException":
            return None
        raise _Unknown(f"DescribeRepositories: {exc}") from None
    return name


def _secret(aws, name: str) -> str | None:
    sm = aws.client("secretsmanager")
    try:
        found = sm.describe_secret(SecretId=name)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return None
        raise _Unknown(f"DescribeSecret: {exc}") from None
    if found.get("DeletedDate"):
        # Neither an import nor a create can take a name scheduled for deletion; restoring keeps the values.
        raise DeployError(
            f"secret {name} is scheduled for deletion ({found['DeletedDate']:%Y-%m-%d}); restore it to keep its "
            f"values: aws secretsmanager restore-secret --secret-id {name} --region {aws.region}, then deploy again"
        )
    return found["ARN"]


def _log_group(aws, name: str) -> str | None:
    logs = aws.client("logs")
    try:
        pages = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name)
        found = any(g.get("logGroupName") == name for page in pages for g in page.get("logGroups", []))
    except ClientError as exc:
        raise _Unknown(f"DescribeLogGroups: {exc}") from None
    return name if found else None


@dataclass(frozen=True)
class Kind:
    name_property: str  # the template property that names the resource
    identifier_key: str  # its primary identifier for ResourcesToImport
    find: Callable[[object, str], str | None]  # (aws, name) -> the identifier's value, None when it does not exist
    needs: str  # the IAM action the check needs (said when it is denied)


KINDS: dict[str, Kind] = {
    "AWS::S3::Bucket": Kind("BucketName", "BucketName", _bucket, "s3:ListBucket"),
    "AWS::ECR::Repository": Kind("RepositoryName", "RepositoryName", _repository, "ecr:DescribeRepositories"),
    # The secret's primary identifier is its ARN (name + a random suffix), so it must be looked up.
    "AWS::SecretsManager::Secret": Kind("Name", "Id", _secret, "secretsmanager:DescribeSecret"),
    "AWS::Logs::LogGroup": Kind("LogGroupName", "LogGroupName", _log_group, "logs:DescribeLogGroups"),
}


@dataclass(frozen=True)
class Candidate:
    logical_id: str
    resource_type: str
    name: str  # the physical name, resolved


@dataclass(frozen=True)
class Adoption:
    logical_id: str
    resource_type: str
    name: str
    identifier: dict[str, str]

    def to_import(self) -> dict:
        return {"ResourceType": self.resource_type, "LogicalResourceId": self.logical_id,
                "ResourceIdentifier": dict(self.identifier)}

    def describe(self) -> str:
        return f"{self.resource_type} {self.name} ({self.logical_id})"


def _parameter_values(template: dict, parameters: dict[str, str]) -> dict[str, str]:
    defaults = {k: str(v["Default"]) for k, v in (template.get("Parameters") or {}).items()
                if isinstance(v, dict) and "Default" in v}
    return {**defaults, **parameters}


def condition(template: dict, name: str, values: dict[str, str], pseudo: dict[str, str]) -> bool | None:
    """The value of the template's condition ``name`` for these parameter values; None when it cannot be
    told without AWS (a function other than Equals/Not/And/Or/Condition over resolvable values)."""
    conditions = template.get("Conditions") or {}

    def value(node, seen: tuple[str, ...]) -> bool | None:
        if not isinstance(node, dict) or len(node) != 1:
            return None
        (fn, arg), = node.items()
        if fn == "Condition":
            return None if arg in seen or arg not in conditions else value(conditions[arg], (*seen, arg))
        if fn == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
            left, right = (guard.resolve(x, values, pseudo) for x in arg)
            return None if left is None or right is None else left == right
        if fn in ("Fn::Not", "Fn::And", "Fn::Or") and isinstance(arg, list):
            parts = [value(x, seen) for x in arg]
            if any(p is None for p in parts):
                return None
            return {"Fn::Not": lambda: not parts[0], "Fn::And": lambda: all(parts), "Fn::Or": lambda: any(parts)}[fn]()
        return None

    return value({"Condition": name}, ())


def candidates(template: dict, parameters: dict[str, str], pseudo: dict[str, str],
               warn: Callable[[str], None] | None = None) -> list[Candidate]:
    """Retained resources of an adoptable type whose name the template fixes (resolvable without AWS), and
    that this deploy's parameters create: a resource whose Condition is false is not in the stack, and an
    IMPORT of it fails (the ALB access-log bucket with alb_access_logs off)."""
    values = _parameter_values(template, parameters)
    found = []
    for logical_id, resource in sorted((template.get("Resources") or {}).items()):
        kind = KINDS.get(resource.get("Type", ""))
        if kind is None or resource.get("DeletionPolicy") != "Retain":
            continue
        if "Condition" in resource:
            on = condition(template, resource["Condition"], values, pseudo)
            if on is None and warn:
                warn(f"cannot tell whether {logical_id} is created (condition {resource['Condition']}); "
                     "not adopting it")
            if not on:
                continue
        name = guard.resolve((resource.get("Properties") or {}).get(kind.name_property), values, pseudo)
        if name:  # no name, or one computed from another resource: CloudFormation generates it, nothing to adopt
            found.append(Candidate(logical_id, resource["Type"], name))
    return found


def existing(aws, template: dict, parameters: dict[str, str], pseudo: dict[str, str],
             warn: Callable[[str], None]) -> list[Adoption]:
    """The candidates that exist in the account: one read-only call each."""
    adoptions = []
    for c in candidates(template, parameters, pseudo, warn):
        kind = KINDS[c.resource_type]
        try:
            value = kind.find(aws, c.name)
        except (_Unknown, BotoCoreError) as exc:
            # Never worse than before adoption existed: go on as a create, and say what to do if that fails.
            warn(f"cannot tell whether retained {c.resource_type} {c.name} exists ({exc}); assuming it does not. "
                 f"If the create fails with 'already exists', deploy with credentials allowed {kind.needs}")
            continue
        if value is not None:
            adoptions.append(Adoption(c.logical_id, c.resource_type, c.name, {kind.identifier_key: value}))
    return adoptions


# --- the import template ------------------------------------------------------------------------------------

def import_template(template: dict, logical_ids: list[str]) -> dict:
    """The template of the IMPORT change set: only the resources being imported, verbatim, and what they need.

    - CloudFormation refuses to create (or update, or delete) anything in an import, so every other
      resource is left for the UPDATE that follows.
    - Each imported resource keeps all its properties, exactly as in the full template. An import does not
      apply properties (it only reads the resource), but CloudFormation records them as the stack's
      template, and the following UPDATE changes only what differs from that. In particular the secret keeps
      its GenerateSecretString unchanged: on AWS a changed or added GenerateSecretString is applied to the
      existing secret ("Update requires: No interruption"), that is, a new value is generated and the values
      the operator set are overwritten. Carried over verbatim, the UPDATE sees no change to AppSecret and
      never calls its handler. (The same goes for stack tags: the import carries the stack's tags, so the
      UPDATE does not re-tag, hence update, the secret either.)
    - Parameters are those the imported resources use; Conditions likewise (with the conditions and
      parameters those use); Mappings kept whole if any is used.
    - No Outputs: an import may not add Outputs (CloudFormation: "As part of the import operation, you
      cannot modify or add [Outputs]"); the UPDATE adds them, exports included.
    """
    resources = template.get("Resources") or {}
    keep = set(logical_ids)
    kept: dict[str, dict] = {}
    names: set[str] = set()
    conditions: set[str] = set()
    for logical_id in sorted(keep):
        resource = copy.deepcopy(resources[logical_id])
        if resource.get("DeletionPolicy") not in ("Retain", "RetainExceptOnCreate", "Delete"):
            raise DeployError(f"{logical_id} cannot be imported: CloudFormation imports only resources that "
                              "carry a DeletionPolicy")
        depends = resource.get("DependsOn")
        if depends is not None:
            depends = [d for d in ([depends] if isinstance(depends, str) else depends) if d in keep]
            if depends:
                resource["DependsOn"] = depends
            else:
                del resource["DependsOn"]
        refs, conds = guard.references_and_conditions({k: v for k, v in resource.items() if k != "DependsOn"})
        if "Condition" in resource:
            conds.add(resource["Condition"])
        outside = sorted(r for r in refs if r in resources and r not in keep)
        if outside:
            raise DeployError(f"{logical_id} cannot be imported on its own: it refers to {', '.join(outside)}, "
                              "which the import cannot create")
        names |= refs
        conditions |= conds
        kept[logical_id] = resource

    all_conditions = template.get("Conditions") or {}
    pending = list(conditions)
    while pending:  # conditions may use other conditions
        name = pending.pop()
        refs, conds = guard.references_and_conditions(all_conditions.get(name))
        names |= refs
        for c in conds - conditions:
            conditions.add(c)
            pending.append(c)

    out: dict = {}
    for key in ("AWSTemplateFormatVersion", "Description", "Transform"):
        if key in template:
            out[key] = template[key]
    parameters = {k: v for k, v in (template.get("Parameters") or {}).items() if k in names}
    if parameters:
        out["Parameters"] = parameters
    if conditions:
        out["Conditions"] = {k: all_conditions[k] for k in sorted(conditions) if k in all_conditions}
    if template.get("Mappings") and "Fn::FindInMap" in json.dumps(kept):
        out["Mappings"] = template["Mappings"]
    out["Resources"] = kept
    return out


def render(template: dict) -> str:
    """The import template as CloudFormation reads it (JSON is valid template syntax); stable bytes."""
    return json.dumps(template, indent=1, sort_keys=True)
