"""Every name this project spells: stacks, exports, tags, named resources.

Templates are environment-agnostic, so inside a template a name is a
``Fn::Sub`` over the ``ProjectName`` parameter; outside (deployer, operator
commands) it is a plain string. Both come from the same pattern here.
"""

from troposphere import Export, ImportValue, Output, Sub, Template

PROJECT_PARAMETER = "ProjectName"
_PROJECT_REF = "${ProjectName}"

# (pattern, AWS length limit). {account} and {region} are filled from the
# pseudo parameters inside templates, and are 12 chars and the region's
# length outside.
RESOURCE_NAMES = {
    "secret": ("{project}/app-secrets", 512),
    "cluster": ("{project}-cluster", 255),
    "service": ("{project}-api", 255),
    "container_log_group": ("/ecs/{project}/api", 512),
    "flow_log_group": ("/vpc/{project}/flow-logs", 512),
    "repository": ("{project}-api", 256),
    "unhandled_bucket": ("{project}-unhandled-{account}-{region}", 63),
    "web_acl": ("{project}-web-acl", 128),
    "oidc_deploy_role": ("{project}-github-deploy", 64),
    "cfn_execution_role": ("{project}-cfn-execution", 64),
    # deploy.py's bucket for templates over CloudFormation's inline limit.
    "deploy_artifacts": ("{project}-deploy-{account}-{region}", 63),
}

# deploy.py names its change sets "{CHANGE_SET_PREFIX}<time>-<id>"; the CI role
# may touch only change sets so named.
CHANGE_SET_PREFIX = "deploy-"

CONTAINER_NAME = "api"
CONTAINER_PORT = 8000
ACCOUNT_ID_LENGTH = 12


def stack_name(project: str, stack: str) -> str:
    return f"{project}-{stack}"


def export_name(project: str, output: str) -> str:
    return f"{project}-{output}"


def export_sub(output: str) -> Sub:
    """The export name of ``output`` inside a template."""
    return Sub(f"{_PROJECT_REF}-{output}")


def export(output: str):
    """The Export property of an output named ``output``."""
    return Export(export_sub(output))


def add_exports(template: Template, outputs: dict[str, tuple]) -> None:
    """Outputs {name: (value, description)}, each exported as "{project}-{name}"."""
    for name, (value, description) in outputs.items():
        template.add_output(Output(name, Description=description, Value=value, Export=export(name)))


def import_value(output: str) -> ImportValue:
    return ImportValue(export_sub(output))


def name_sub(suffix: str) -> Sub:
    """"{project}-{suffix}" inside a template (Name tags)."""
    return Sub(f"{_PROJECT_REF}-{suffix}")


def resource_name(kind: str, project: str, account: str = "", region: str = "") -> str:
    pattern, _ = RESOURCE_NAMES[kind]
    return pattern.format(project=project, account=account, region=region)


def resource_name_sub(kind: str) -> Sub:
    pattern, _ = RESOURCE_NAMES[kind]
    return Sub(
        pattern.format(
            project=_PROJECT_REF,
            account="${AWS::AccountId}",
            region="${AWS::Region}",
        )
    )


def longest_project_name(region: str) -> tuple[int, str]:
    """The longest project_name every prefixed name allows, and the name that binds."""
    limits = []
    for kind, (pattern, limit) in RESOURCE_NAMES.items():
        rest = pattern.format(project="", account="x" * ACCOUNT_ID_LENGTH, region=region)
        limits.append((limit - len(rest), kind))
    return min(limits)


def stack_tags(project: str, environment: str) -> dict[str, str]:
    return {"Project": project, "Environment": environment}
