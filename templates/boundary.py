"""The CI stack's permissions boundary, as the app stacks' roles carry it.

Every ``AWS::IAM::Role`` of network and compute sets ``PermissionsBoundary``
from one template parameter (``contract.PERMISSIONS_BOUNDARY_PARAMETER``). It
is not a params-schema key: nobody chooses it, deploy.py passes the github-oidc
stack's ``PermissionsBoundaryArn`` output once that stack exists. Its default
"" leaves the roles unbounded, so an admin can deploy the app stacks before (or
without) the CI stack; the CloudFormation execution role, in turn, can create
or change a role only when it carries the boundary (templates/github_oidc.py).
"""

from troposphere import Equals, If, Not, Parameter, Ref, Template

import contract

CONDITION = "HasPermissionsBoundary"
# Empty, or a customer managed policy's ARN (any partition).
ARN_PATTERN = r"^$|^arn:aws[a-z-]*:iam::[0-9]{12}:policy/[\w+=,.@/-]+$"


def add_parameter(template: Template) -> None:
    """Declare the boundary parameter and the condition the roles' ``PermissionsBoundary`` reads."""
    template.add_parameter(Parameter(
        contract.PERMISSIONS_BOUNDARY_PARAMETER,
        Type="String",
        Default="",
        AllowedPattern=ARN_PATTERN,
        ConstraintDescription="empty or the ARN of the github-oidc stack's permissions boundary policy",
        Description="Permissions boundary of every role of this stack (set by deploy.py from the github-oidc "
                    "stack; empty: none)",
    ))
    template.add_condition(CONDITION, Not(Equals(Ref(contract.PERMISSIONS_BOUNDARY_PARAMETER), "")))


def role_boundary() -> If:
    """The value of a role's ``PermissionsBoundary``: the parameter, or no property at all when it is empty."""
    return If(CONDITION, Ref(contract.PERMISSIONS_BOUNDARY_PARAMETER), Ref("AWS::NoValue"))
