"""github-oidc stack: how GitHub Actions reaches this account, and nothing more.

Deployed once, by an admin (``deploy.py prod --stacks github-oidc``). It holds:

- the GitHub OIDC identity provider, or a reference to the account's existing
  one (an account holds one provider per URL): ``oidc_provider_arn``;
- ``{project}-github-deploy``: the role the workflow assumes. Only the
  repository's deploy branch and its GitHub environment can assume it, and it
  can run change sets on this project's four stacks (never this one), pass one
  role to CloudFormation, push to the project's ECR repository and restart its
  ECS service. It creates no infrastructure itself;
- ``{project}-cfn-execution``: the role CloudFormation uses (deploy.py passes
  it as ``RoleARN``) to create what the four stacks declare, and only that.

The seed created the provider by hand and gave CI ``AdministratorAccess``.
Every ``Resource: "*"`` below is one where AWS offers nothing narrower; each
says so where it appears.
"""

from __future__ import annotations

from awacs import aws as pol
from troposphere import Equals, GetAtt, If, Output, Ref, Sub, Tags, Template
from troposphere import iam as iam_res

import contract
from templates import naming, params
from templates.metadata import checkov_skip

STACK_KEY = contract.CI_ACCESS

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
OIDC_AUDIENCE = "sts.amazonaws.com"
# AWS no longer checks these for GitHub (it trusts GitHub's CA), but the
# resource still accepts them; the seed's value plus GitHub's second one.
GITHUB_THUMBPRINTS = ("6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd")

# CloudFormation calls that name no stack, or list the whole account: AWS
# authorizes them only on Resource "*". deploy.py uses ListExports/ListImports
# (export guard), DescribeStacks without a name (list) and ValidateTemplate.
CFN_ACCOUNT_WIDE_ACTIONS = ("DescribeStacks", "ListExports", "ListImports", "ListStacks", "ValidateTemplate")

# What deploy.py does to a stack of this project: change sets, events, the
# deployed template, termination protection, and deleting a stack left in
# ROLLBACK_COMPLETE by a failed create.
CFN_STACK_ACTIONS = (
    "CreateChangeSet", "DeleteChangeSet", "DeleteStack", "DescribeChangeSet", "DescribeStackEvents",
    "DescribeStackResources", "DescribeStacks", "ExecuteChangeSet", "GetTemplate", "ListChangeSets",
    "ListStackResources", "UpdateTerminationProtection",
)

ECR_PUSH_PULL_ACTIONS = (
    "BatchCheckLayerAvailability", "BatchGetImage", "CompleteLayerUpload", "DescribeImages",
    "DescribeRepositories", "GetDownloadUrlForLayer", "InitiateLayerUpload", "ListImages", "PutImage",
    "UploadLayerPart",
)


# Services CloudFormation hands the project's roles to: ECS tasks (compute) and
# VPC Flow Logs (network).
ROLE_CONSUMERS = ("ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com")
# Service-linked roles the stacks' resources need on first use in an account.
SERVICE_LINKED_ROLE_SERVICES = (
    "ecs.amazonaws.com", "ecs.application-autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com",
)
# The one managed policy the stacks attach (compute's task execution role).
ATTACHABLE_MANAGED_POLICIES = ("service-role/AmazonECSTaskExecutionRolePolicy",)

_PROJECT = "${" + contract.PROJECT_PARAMETER + "}"
_PROJECT_VALUE = Sub(_PROJECT)


def _pattern(kind: str) -> str:
    """A resource name pattern as Fn::Sub text, from the contract."""
    return naming.resource_name_text(kind)


def _project_tag_key() -> str:
    """The stack tag that carries the project name (deploy.py tags every stack with it)."""
    return next(key for key, value in contract.stack_tags(_PROJECT, "").items() if value == _PROJECT)


def _arn(service: str, resource: str, region: bool = True, account: bool = True) -> Sub:
    r = "${AWS::Region}" if region else ""
    a = "${AWS::AccountId}" if account else ""
    return Sub(f"arn:${{AWS::Partition}}:{service}:{r}:{a}:{resource}")


def _actions(prefix: str, names) -> list[pol.Action]:
    return [pol.Action(prefix, name) for name in sorted(names)]


def _allow(sid: str, prefix: str, names, resources, condition: pol.Condition | None = None) -> pol.Statement:
    kwargs = {"Condition": condition} if condition is not None else {}
    return pol.Statement(Sid=sid, Effect=pol.Allow, Action=_actions(prefix, names), Resource=resources, **kwargs)


def _deployable_stacks() -> list[str]:
    """The stacks CI deploys: every stack in the graph except the optional ones (this one)."""
    return list(contract.APP_STACKS)


def _stack_role_arns() -> list[Sub]:
    # The stacks' roles are unnamed, so CloudFormation names them
    # "{stack name}-{logical id}-{suffix}": the stack prefixes bound them, and
    # leave out this stack's two roles.
    return [_arn("iam", f"role/{contract.stack_name(_PROJECT, key)}-*", region=False) for key in _deployable_stacks()]


def _owned(tag_key: str) -> pol.Condition:
    return pol.Condition(pol.StringEquals(f"aws:ResourceTag/{tag_key}", _PROJECT_VALUE))


def _requested(tag_key: str) -> pol.Condition:
    return pol.Condition(pol.StringEquals(f"aws:RequestTag/{tag_key}", _PROJECT_VALUE))


def build() -> Template:
    t = Template(Description="ia-comafi github-oidc: GitHub Actions OIDC provider, CI deploy role and the "
                             "CloudFormation execution role")
    p = params.add_parameters(t, STACK_KEY)
    t.add_condition("CreateProvider", Equals(Ref(p["oidc_provider_arn"]), ""))
    t.add_rule("GithubRepoIsSet", {
        "Assertions": [{
            "Assert": {"Fn::Not": [{"Fn::Equals": [Ref(p["github_repo"]), ""]}]},
            "AssertDescription": "github_repo must name the repository (ORG/REPO) whose workflow may deploy",
        }],
    })

    provider = t.add_resource(iam_res.OIDCProvider(
        "GithubOidcProvider",
        Condition="CreateProvider",
        Url=GITHUB_OIDC_URL,
        ClientIdList=[OIDC_AUDIENCE],
        ThumbprintList=list(GITHUB_THUMBPRINTS),
        Tags=Tags(Name=naming.name_sub(STACK_KEY)),
    ))
    provider_arn = If("CreateProvider", Ref(provider), Ref(p["oidc_provider_arn"]))

    execution_role = _execution_role(t)
    deploy_role = _deploy_role(t, p, provider_arn, execution_role)

    t.add_output(Output(contract.DEPLOY_ROLE_OUTPUT, Value=GetAtt(deploy_role, "Arn"),
                        Description="Role the workflow assumes: the repository secret AWS_DEPLOY_ROLE_ARN"))
    t.add_output(Output(contract.EXECUTION_ROLE_OUTPUT, Value=GetAtt(execution_role, "Arn"),
                        Description="Role deploy.py passes to CloudFormation (RoleARN)"))
    t.add_output(Output(contract.OIDC_PROVIDER_OUTPUT, Value=provider_arn,
                        Description="GitHub OIDC provider the role trusts"))
    return t


# -- the CI role ---------------------------------------------------------------------------------------------


def trusted_subjects(repo: str, branch: str, environment: str) -> list[str]:
    """The OIDC ``sub`` claims that may assume the deploy role: jobs on the deploy branch
    (build, health-check) and jobs in the deploy environment (deploy)."""
    return [f"repo:{repo}:ref:refs/heads/{branch}", f"repo:{repo}:environment:{environment}"]


def _deploy_role(t: Template, p: dict, provider_arn, execution_role: iam_res.Role) -> iam_res.Role:
    subjects = [
        Sub(s) for s in trusted_subjects("${GithubRepo}", "${GithubBranch}", "${GithubEnvironment}")
    ]
    trust = pol.PolicyDocument(Version="2012-10-17", Statement=[pol.Statement(
        Sid="GithubDeployBranchAndEnvironment",
        Effect=pol.Allow,
        Principal=pol.Principal("Federated", provider_arn),
        Action=[pol.Action("sts", "AssumeRoleWithWebIdentity")],
        Condition=pol.Condition(pol.StringEquals({
            f"{GITHUB_OIDC_HOST}:aud": OIDC_AUDIENCE,
            f"{GITHUB_OIDC_HOST}:sub": subjects,
        })),
    )])
    return t.add_resource(iam_res.Role(
        "GithubDeployRole",
        RoleName=naming.resource_name_sub("oidc_deploy_role"),
        Description="GitHub Actions deploys: change sets on this project's stacks, its image, its service",
        AssumeRolePolicyDocument=trust,
        MaxSessionDuration=3600,
        Policies=[iam_res.Policy(PolicyName="deploy", PolicyDocument=_deploy_policy(execution_role))],
    ))


def _deploy_policy(execution_role: iam_res.Role) -> pol.PolicyDocument:
    stacks = _deployable_stacks()
    stack_arns = [_arn("cloudformation", f"stack/{contract.stack_name(_PROJECT, key)}/*") for key in stacks]
    # CloudFormation authorizes change-set calls on the stack; the change set's
    # own ARN carries the deployer's name (contract.CHANGE_SET_PREFIX), not the stack's.
    change_set_arns = [_arn("cloudformation", f"changeSet/{contract.CHANGE_SET_PREFIX}*/*")]
    cluster = _pattern("cluster")
    service_arn = _arn("ecs", f"service/{cluster}/{_pattern('service')}")
    statements = [
        _allow("ProjectStacks", "cloudformation", set(CFN_STACK_ACTIONS) - {"CreateChangeSet"},
               stack_arns + change_set_arns),
        # A change set on a project stack runs as the execution role, never as this one.
        _allow("ProjectChangeSetsRunAsExecutionRole", "cloudformation", ["CreateChangeSet"], stack_arns,
               pol.Condition(pol.StringEquals("cloudformation:RoleArn", GetAtt(execution_role, "Arn")))),
        # These take no stack name (or list the account); AWS authorizes them on "*" only.
        _allow("AccountWideCloudFormationReads", "cloudformation", CFN_ACCOUNT_WIDE_ACTIONS, ["*"]),
        _allow("PassExecutionRoleToCloudFormation", "iam", ["PassRole"], [GetAtt(execution_role, "Arn")],
               pol.Condition(pol.StringEquals("iam:PassedToService", "cloudformation.amazonaws.com"))),
        # A registry login token: ECR has no resource to scope it to.
        _allow("EcrLogin", "ecr", ["GetAuthorizationToken"], ["*"]),
        _allow("EcrPushPullProjectRepository", "ecr", ECR_PUSH_PULL_ACTIONS,
               [_arn("ecr", f"repository/{_pattern('repository')}")]),
        _allow("RestartAndStatusOfProjectService", "ecs", ["DescribeServices", "UpdateService"], [service_arn]),
        _allow("StatusOfProjectCluster", "ecs", ["DescribeClusters"], [_arn("ecs", f"cluster/{cluster}")]),
        # After a destroy, deploy.py looks for the retained bucket and secret to adopt them again
        # (deployer/adoption.py): HeadBucket is authorized as s3:ListBucket. Names only, never values.
        _allow("FindRetainedBucket", "s3", ["ListBucket"],
               [_arn("s3", _pattern("unhandled_bucket"), region=False, account=False)]),
        _allow("FindRetainedSecret", "secretsmanager", ["DescribeSecret"],
               [_arn("secretsmanager", f"secret:{_pattern('secret')}-??????")]),
        # Templates over 51,200 bytes go through this bucket (deploy.py creates it on first need).
        _allow("DeployArtifactsBucket", "s3",
               ["CreateBucket", "ListBucket", "PutBucketPublicAccessBlock", "PutEncryptionConfiguration",
                "PutLifecycleConfiguration"],
               [_arn("s3", _pattern("deploy_artifacts"), region=False, account=False)]),
        _allow("DeployArtifactsObjects", "s3", ["GetObject", "PutObject"],
               [_arn("s3", f"{_pattern('deploy_artifacts')}/*", region=False, account=False)]),
    ]
    return pol.PolicyDocument(Version="2012-10-17", Statement=statements)


# -- the CloudFormation execution role ------------------------------------------------------------------------


def _execution_role(t: Template) -> iam_res.Role:
    trust = pol.PolicyDocument(Version="2012-10-17", Statement=[pol.Statement(
        Effect=pol.Allow,
        Principal=pol.Principal("Service", ["cloudformation.amazonaws.com"]),
        Action=[pol.Action("sts", "AssumeRole")],
    )])
    role = t.add_resource(iam_res.Role(
        "CfnExecutionRole",
        RoleName=naming.resource_name_sub("cfn_execution_role"),
        Description="CloudFormation creates the network, data, compute and waf stacks' resources as this role",
        AssumeRolePolicyDocument=trust,
    ))
    # One managed policy per area: a role's inline policies share 10,240
    # characters, a managed policy has 6,144 of its own.
    for title, statements, skips in _execution_policies():
        t.add_resource(iam_res.ManagedPolicy(
            title,
            Description=f"{title}: what CloudFormation needs to deploy this project's stacks",
            Roles=[Ref(role)],
            PolicyDocument=pol.PolicyDocument(Version="2012-10-17", Statement=statements),
            **({"Metadata": checkov_skip(*skips)} if skips else {}),
        ))
    return role


_EC2_DESCRIBE = (
    "DescribeAccountAttributes", "DescribeAddresses", "DescribeAddressesAttribute", "DescribeAvailabilityZones",
    "DescribeFlowLogs", "DescribeInternetGateways", "DescribeNatGateways", "DescribeNetworkAcls",
    "DescribeNetworkInterfaces", "DescribePrefixLists", "DescribeRouteTables", "DescribeSecurityGroupRules",
    "DescribeSecurityGroups", "DescribeSubnets", "DescribeTags", "DescribeVpcAttribute", "DescribeVpcEndpoints",
    "DescribeVpcEndpointServices", "DescribeVpcs",
)
# Creating: the new resource has no ARN to name yet, and a resource's tags may
# arrive after its create call, so neither a name nor aws:RequestTag can bound
# these safely. The attributes are set as part of the VPC's and subnets' create.
_EC2_CREATE = (
    "AllocateAddress", "AssociateRouteTable", "AttachInternetGateway", "AuthorizeSecurityGroupEgress",
    "AuthorizeSecurityGroupIngress", "CreateFlowLogs", "CreateInternetGateway", "CreateNatGateway", "CreateRoute",
    "CreateRouteTable", "CreateSecurityGroup", "CreateSubnet", "CreateVpc", "CreateVpcEndpoint",
    "ModifySubnetAttribute", "ModifyVpcAttribute",
)
# Changing or deleting what exists: only resources tagged with this project
# (CloudFormation copies the stack's Project tag onto every resource it tags).
_EC2_OWNED = (
    "DeleteFlowLogs", "DeleteInternetGateway", "DeleteNatGateway", "DeleteRoute", "DeleteRouteTable",
    "DeleteSecurityGroup", "DeleteSubnet", "DeleteTags", "DeleteVpc", "DeleteVpcEndpoints",
    "DetachInternetGateway", "DisassociateRouteTable", "ModifyVpcEndpoint", "ReleaseAddress", "ReplaceRoute",
    "ReplaceRouteTableAssociation", "RevokeSecurityGroupEgress", "RevokeSecurityGroupIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress", "UpdateSecurityGroupRuleDescriptionsIngress",
)

# The bucket's create, update and delete, plus every configuration its read
# handler looks at (an IMPORT of the retained bucket reads them all).
_S3_BUCKET = (
    "CreateBucket", "DeleteBucket", "DeleteBucketPolicy", "GetAccelerateConfiguration", "GetAnalyticsConfiguration",
    "GetBucketAcl", "GetInventoryConfiguration", "GetIntelligentTieringConfiguration", "GetMetricsConfiguration",
    "GetBucketCORS", "GetBucketLocation", "GetBucketLogging", "GetBucketNotification",
    "GetBucketObjectLockConfiguration",
    "GetBucketOwnershipControls", "GetBucketPolicy", "GetBucketPolicyStatus", "GetBucketPublicAccessBlock",
    "GetBucketTagging", "GetBucketVersioning", "GetBucketWebsite", "GetEncryptionConfiguration",
    "GetLifecycleConfiguration", "GetReplicationConfiguration", "ListBucket", "PutBucketOwnershipControls",
    "PutBucketPolicy", "PutBucketPublicAccessBlock", "PutBucketTagging", "PutBucketVersioning",
    "PutEncryptionConfiguration", "PutLifecycleConfiguration",
)
_ECR_REPOSITORY = (
    "CreateRepository", "DeleteLifecyclePolicy", "DeleteRepository", "DeleteRepositoryPolicy",
    "DescribeRepositories", "GetLifecyclePolicy", "GetRepositoryPolicy", "ListTagsForResource",
    "PutImageScanningConfiguration", "PutImageTagMutability", "PutLifecyclePolicy", "SetRepositoryPolicy",
    "TagResource", "UntagResource",
)
_SECRET = (
    "CreateSecret", "DeleteResourcePolicy", "DeleteSecret", "DescribeSecret", "GetResourcePolicy",
    "PutResourcePolicy", "TagResource", "UntagResource", "UpdateSecret",
)
_LOG_GROUP = (
    "CreateLogGroup", "DeleteLogGroup", "DeleteRetentionPolicy", "ListTagsForResource", "ListTagsLogGroup",
    "PutRetentionPolicy", "TagLogGroup", "TagResource", "UntagLogGroup", "UntagResource",
)
_IAM_ROLE = (
    "CreateRole", "DeleteRole", "DeleteRolePolicy", "GetRole", "GetRolePolicy", "ListAttachedRolePolicies",
    "ListInstanceProfilesForRole", "ListRolePolicies", "ListRoleTags", "PutRolePolicy", "TagRole", "UntagRole",
    "UpdateAssumeRolePolicy", "UpdateRole", "UpdateRoleDescription",
)
_ECS_CLUSTER = (
    "CreateCluster", "DeleteCluster", "DescribeClusters", "ListTagsForResource", "PutClusterCapacityProviders",
    "TagResource", "UntagResource", "UpdateCluster", "UpdateClusterSettings",
)
_ECS_SERVICE = (
    "CreateService", "DeleteService", "DescribeServices", "ListTagsForResource", "TagResource", "UntagResource",
    "UpdateService",
)
_ELB_DESCRIBE = (
    "DescribeListenerAttributes", "DescribeListenerCertificates", "DescribeListeners",
    "DescribeLoadBalancerAttributes", "DescribeLoadBalancers", "DescribeRules", "DescribeSSLPolicies",
    "DescribeTags", "DescribeTargetGroupAttributes", "DescribeTargetGroups", "DescribeTargetHealth",
)
# Load balancer and target group names are CloudFormation's (truncated stack
# name plus a suffix), so these are bounded to the account and region.
_ELB_CREATE = (
    "AddListenerCertificates", "AddTags", "CreateListener", "CreateLoadBalancer", "CreateRule",
    "CreateTargetGroup", "DeleteListener", "DeleteRule", "ModifyListener", "ModifyListenerAttributes",
    "ModifyRule", "RemoveListenerCertificates", "SetRulePriorities",
)
_ELB_OWNED = (
    "DeleteLoadBalancer", "DeleteTargetGroup", "ModifyLoadBalancerAttributes", "ModifyTargetGroup",
    "ModifyTargetGroupAttributes", "RemoveTags", "SetIpAddressType", "SetSecurityGroups", "SetSubnets",
    "SetWebAcl",
)
_SCALING = (
    "DeleteScalingPolicy", "DeregisterScalableTarget", "ListTagsForResource", "PutScalingPolicy",
    "RegisterScalableTarget", "TagResource", "UntagResource",
)
_SCALING_DESCRIBE = ("DescribeScalableTargets", "DescribeScalingActivities", "DescribeScalingPolicies")
_WAF = (
    "AssociateWebACL", "CreateWebACL", "DeleteWebACL", "DisassociateWebACL", "GetWebACL", "GetWebACLForResource",
    "ListResourcesForWebACL", "ListTagsForResource", "TagResource", "UntagResource", "UpdateWebACL",
)

def _execution_policies() -> list[tuple[str, list[pol.Statement], tuple]]:
    """(logical id, statements, checkov exceptions) of each managed policy of the execution role."""
    tag = _project_tag_key()
    cluster = _pattern("cluster")
    log_groups = [_pattern("container_log_group"), _pattern("flow_log_group")]
    log_group_arns = [_arn("logs", f"log-group:{g}") for g in log_groups] + \
        [_arn("logs", f"log-group:{g}:*") for g in log_groups]
    roles = _stack_role_arns()
    elb = lambda resource: _arn("elasticloadbalancing", resource)  # noqa: E731

    network = [
        # EC2 describe calls support no resource-level permissions.
        _allow("Ec2Describe", "ec2", _EC2_DESCRIBE, ["*"]),
        _allow("Ec2Create", "ec2", _EC2_CREATE, ["*"]),
        _allow("Ec2ChangeOwned", "ec2", _EC2_OWNED, ["*"], _owned(tag)),
        # Tags on a new resource carry the project's tag; tags on an existing one need it already.
        _allow("Ec2TagNew", "ec2", ["CreateTags"], ["*"], _requested(tag)),
        _allow("Ec2TagOwned", "ec2", ["CreateTags"], ["*"], _owned(tag)),
        # The flow logs' group (network) and the container's (compute), by name.
        _allow("LogGroups", "logs", _LOG_GROUP, log_group_arns),
        _allow("LogGroupsDescribe", "logs", ["DescribeLogGroups"], [_arn("logs", "log-group:*")]),
    ]
    network_skips = (
        ("CKV_AWS_111", "EC2 create calls cannot be bounded by a name that does not exist yet; changes and "
                        "deletes are bounded by the Project tag instead"),
    )

    data = [
        _allow("UnhandledBucket", "s3", _S3_BUCKET,
               [_arn("s3", _pattern("unhandled_bucket"), region=False, account=False)]),
        _allow("Repository", "ecr", _ECR_REPOSITORY, [_arn("ecr", f"repository/{_pattern('repository')}")]),
        _allow("AppSecret", "secretsmanager", _SECRET, [_arn("secretsmanager", f"secret:{_pattern('secret')}-??????")]),
        # GenerateSecretString: a random password is not a resource.
        _allow("SecretPassword", "secretsmanager", ["GetRandomPassword"], ["*"]),
    ]

    compute = [
        _allow("Cluster", "ecs", _ECS_CLUSTER, [_arn("ecs", f"cluster/{cluster}")]),
        _allow("Service", "ecs", _ECS_SERVICE, [_arn("ecs", f"service/{cluster}/{_pattern('service')}")]),
        # Task definitions: register/deregister/describe take no resource.
        _allow("TaskDefinitions", "ecs", ["DeregisterTaskDefinition", "DescribeTaskDefinition",
                                          "RegisterTaskDefinition"], ["*"]),
        _allow("TaskDefinitionTags", "ecs", ["ListTagsForResource", "TagResource", "UntagResource"],
               [_arn("ecs", f"task-definition/{_pattern('service')}:*")]),
        _allow("LoadBalancingDescribe", "elasticloadbalancing", _ELB_DESCRIBE, ["*"]),
        _allow("LoadBalancingCreate", "elasticloadbalancing", _ELB_CREATE,
               [elb("loadbalancer/app/*/*"), elb("targetgroup/*/*"), elb("listener/app/*/*/*"),
                elb("listener-rule/app/*/*/*/*")]),
        _allow("LoadBalancingChangeOwned", "elasticloadbalancing", _ELB_OWNED,
               [elb("loadbalancer/app/*/*"), elb("targetgroup/*/*")], _owned(tag)),
        _allow("ScalableTarget", "application-autoscaling", _SCALING,
               [_arn("application-autoscaling", "scalable-target/*")]),
        _allow("ScalingDescribe", "application-autoscaling", _SCALING_DESCRIBE, ["*"]),
        # Target tracking creates and deletes its alarms as the caller.
        _allow("TargetTrackingAlarms", "cloudwatch", ["DeleteAlarms", "PutMetricAlarm"],
               [_arn("cloudwatch", f"alarm:TargetTracking-service/{cluster}/*")]),
        _allow("AlarmsDescribe", "cloudwatch", ["DescribeAlarms"], ["*"]),
    ]
    compute_skips = (
        ("CKV_AWS_111", "ECS task definitions accept no resource; load balancers and target groups are named by "
                        "CloudFormation, so creates are bounded to the account and region and changes by tag"),
    )

    identity = [
        _allow("StackRoles", "iam", _IAM_ROLE, roles),
        _allow("StackRolesManagedPolicy", "iam", ["AttachRolePolicy", "DetachRolePolicy"], roles,
               pol.Condition(pol.ArnEquals("iam:PolicyARN", [
                   Sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{name}") for name in ATTACHABLE_MANAGED_POLICIES
               ]))),
        _allow("PassStackRoles", "iam", ["PassRole"], roles,
               pol.Condition(pol.StringEquals("iam:PassedToService", list(ROLE_CONSUMERS)))),
        _allow("ServiceLinkedRoles", "iam", ["CreateServiceLinkedRole"],
               [_arn("iam", "role/aws-service-role/*", region=False)],
               pol.Condition(pol.StringEquals("iam:AWSServiceName", list(SERVICE_LINKED_ROLE_SERVICES)))),
        _allow("WebAcl", "wafv2", _WAF,
               [_arn("wafv2", f"regional/webacl/{_pattern('web_acl')}/*"),
                _arn("wafv2", "regional/managedruleset/*/*"),
                elb("loadbalancer/app/*/*")]),
    ]
    return [
        ("NetworkAndLogsDeployPolicy", network, network_skips),
        ("DataDeployPolicy", data, ()),
        ("ComputeDeployPolicy", compute, compute_skips),
        ("IdentityAndWafDeployPolicy", identity, ()),
    ]
