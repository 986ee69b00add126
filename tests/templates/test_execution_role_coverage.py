"""The CloudFormation execution role can create every resource type the app stacks declare.

The escalation audit proves the role can do no more than it should; this is the other half: that it can
do what the templates ask. A resource type added to a template without the matter of who may create it
fails here first, rather than as an AccessDenied on the first deploy through the CI role.
"""

import fnmatch

import pytest

import contract

# The API call CloudFormation's handler makes to create each resource type (the IAM Service Authorization
# Reference names them; WaitConditionHandle is CloudFormation's own and needs none).
CREATE_ACTIONS = {
    "AWS::ApplicationAutoScaling::ScalableTarget": "application-autoscaling:RegisterScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy": "application-autoscaling:PutScalingPolicy",
    "AWS::CertificateManager::Certificate": "acm:RequestCertificate",
    "AWS::Budgets::Budget": "budgets:ModifyBudget",
    "AWS::CloudFormation::WaitConditionHandle": None,
    "AWS::CloudWatch::Alarm": "cloudwatch:PutMetricAlarm",
    "AWS::CloudWatch::CompositeAlarm": "cloudwatch:PutCompositeAlarm",
    "AWS::CloudWatch::Dashboard": "cloudwatch:PutDashboard",
    "AWS::EC2::EIP": "ec2:AllocateAddress",
    "AWS::EC2::FlowLog": "ec2:CreateFlowLogs",
    "AWS::EC2::InternetGateway": "ec2:CreateInternetGateway",
    "AWS::EC2::NatGateway": "ec2:CreateNatGateway",
    "AWS::EC2::Route": "ec2:CreateRoute",
    "AWS::EC2::RouteTable": "ec2:CreateRouteTable",
    "AWS::EC2::SecurityGroup": "ec2:CreateSecurityGroup",
    "AWS::EC2::SecurityGroupIngress": "ec2:AuthorizeSecurityGroupIngress",
    "AWS::EC2::Subnet": "ec2:CreateSubnet",
    "AWS::EC2::SubnetRouteTableAssociation": "ec2:AssociateRouteTable",
    "AWS::EC2::VPC": "ec2:CreateVpc",
    "AWS::EC2::VPCEndpoint": "ec2:CreateVpcEndpoint",
    "AWS::EC2::VPCGatewayAttachment": "ec2:AttachInternetGateway",
    "AWS::ECR::Repository": "ecr:CreateRepository",
    "AWS::ECS::Cluster": "ecs:CreateCluster",
    "AWS::ECS::ClusterCapacityProviderAssociations": "ecs:PutClusterCapacityProviders",
    "AWS::ECS::Service": "ecs:CreateService",
    "AWS::ECS::TaskDefinition": "ecs:RegisterTaskDefinition",
    "AWS::Events::Rule": "events:PutRule",
    "AWS::ElasticLoadBalancingV2::Listener": "elasticloadbalancing:CreateListener",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "elasticloadbalancing:CreateLoadBalancer",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "elasticloadbalancing:CreateTargetGroup",
    "AWS::IAM::Role": "iam:CreateRole",
    "AWS::KMS::Alias": "kms:CreateAlias",
    "AWS::KMS::Key": "kms:CreateKey",
    "AWS::Logs::LogGroup": "logs:CreateLogGroup",
    "AWS::Logs::ResourcePolicy": "logs:PutResourcePolicy",
    "AWS::Route53::RecordSet": "route53:ChangeResourceRecordSets",
    "AWS::S3::Bucket": "s3:CreateBucket",
    "AWS::S3::BucketPolicy": "s3:PutBucketPolicy",
    "AWS::SNS::Topic": "sns:CreateTopic",
    "AWS::SNS::TopicPolicy": "sns:SetTopicAttributes",
    "AWS::SecretsManager::Secret": "secretsmanager:CreateSecret",
    "AWS::WAFv2::LoggingConfiguration": "wafv2:PutLoggingConfiguration",
    "AWS::WAFv2::WebACL": "wafv2:CreateWebACL",
    "AWS::WAFv2::WebACLAssociation": "wafv2:AssociateWebACL",
}


def _execution_role_actions(template: dict) -> list[str]:
    """Every action an Allow statement of the execution role's policies names (conditions aside)."""
    role = template["Resources"]["CfnExecutionRole"]
    documents = [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
    # Managed policies attach themselves to it (Roles: [!Ref CfnExecutionRole]).
    documents += [r["Properties"]["PolicyDocument"] for _, r in sorted(template["Resources"].items())
                  if r["Type"] == "AWS::IAM::ManagedPolicy"
                  and {"Ref": "CfnExecutionRole"} in r["Properties"].get("Roles", [])]
    actions = []
    for document in documents:
        for statement in document["Statement"]:
            if statement["Effect"] == "Allow":
                named = statement["Action"]
                actions += named if isinstance(named, list) else [named]
    return actions


def _app_resource_types(docs: dict) -> set[str]:
    return {r["Type"] for key in contract.APP_STACKS for r in docs[key]["Resources"].values()}


def test_every_resource_type_of_the_app_stacks_has_a_known_create_action(docs):
    unknown = _app_resource_types(docs) - set(CREATE_ACTIONS)
    assert not unknown, f"add the create action of {sorted(unknown)} here, and grant it to the execution role"


@pytest.mark.parametrize("resource_type", sorted(t for t, a in CREATE_ACTIONS.items() if a))
def test_the_execution_role_may_create_it(docs, resource_type):
    if resource_type not in _app_resource_types(docs):
        pytest.skip(f"no {resource_type} in the templates any more: drop it from CREATE_ACTIONS")
    actions = _execution_role_actions(docs[contract.CI_ACCESS])
    wanted = CREATE_ACTIONS[resource_type]
    assert any(fnmatch.fnmatchcase(wanted, granted) for granted in actions), (
        f"the execution role cannot {wanted}: deploying a {resource_type} through CI would fail")
