"""The compute template: the original CDK design's numbers, least privilege, network exposure and listeners."""

from __future__ import annotations

import json
import re

import pytest

import contract
import templates
from templates import compute, params
from testkit.placeholders import FILLED
from tests.templates import cfn
from tests.templates.cfn import of_type, walk

CONTRACT_IMPORTS = {
    "VpcId",
    "PublicSubnetIds",
    "AppSubnetIds",
    "AppAssignPublicIp",
    "SecretArn",
    "UnhandledBucketName",
    "UnhandledBucketArn",
    "RepositoryUri",
}
CONTRACT_OUTPUTS = {
    "AlbArn",
    "AlbDnsName",
    "ApiUrl",
    "ClusterName",
    "ServiceName",
    "ContainerLogGroupName",
    "TargetGroupArn",
    "AlarmTopicArn",
}
# Read by operators and the deployer, imported by nobody (test_alarms.py checks their values).
UNEXPORTED_OUTPUTS = {"DashboardUrl", "ReleaseHealthAlarmArn"}
ENV_VARS = {
    "AWS_DEFAULT_REGION",
    "BEDROCK_MODEL_ID",
    "CACHE_TTL_DEFAULT",
    "CACHE_TTL_BENEFITS",
    "CACHE_ENABLED",
    "S3_BUCKET_UNHANDLED",
    "LANGCHAIN_TRACING_V2",
    "LANGCHAIN_ENDPOINT",
    "LANGCHAIN_PROJECT",
    "REDIS_SSL",
}
SECRET_KEYS = ("LANGCHAIN_API_KEY", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD")


def imported(output: str) -> dict:
    return {"Fn::ImportValue": {"Fn::Sub": f"${{ProjectName}}-{output}"}}


def ref(name: str) -> dict:
    return {"Ref": name}


@pytest.fixture(scope="module")
def tpl() -> dict:
    return templates.load_yaml(templates.render(compute.build()))


@pytest.fixture(scope="module")
def res(tpl) -> dict:
    return tpl["Resources"]


def props(res: dict, logical_id: str) -> dict:
    return res[logical_id]["Properties"]


# The conditions as in prod in us-east-1: access logs on, delivered by the region's ELB account; HTTPS with
# the certificate compute requests in the hosted zone.
PROD_CONDITIONS = {"AlbAccessLogsOn": True, "ElbDeliversLogsAsService": False, "HasAlarmEmail": False,
                   "HasPermissionsBoundary": False, compute.SERVES_TLS: True, compute.CREATES_CERTIFICATE: True,
                   "InIamEventsRegion": True, "HasBudget": True}


# The three ways the API meets the internet, as params files give them (templates/params.py checks each).
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-1111-2222-3333-444455556666"
DOMAIN = FILLED["domain_name"]
WAYS = {
    "hosted_zone": ("prod", [f"domain_name={DOMAIN}", f"hosted_zone_id={FILLED['hosted_zone_id']}"]),
    "certificate_arn": ("prod", [f"domain_name={DOMAIN}", "hosted_zone_id=", f"certificate_arn={CERTIFICATE}"]),
    "plain_http": ("dev", []),
}
TLS_WAYS = ("hosted_zone", "certificate_arn")


def way_values(way: str) -> dict:
    """Compute's CloudFormation parameter values for one way (and no permissions boundary)."""
    env, overrides = WAYS[way]
    values = params.cfn_parameter_values(contract.COMPUTE, params.load_params(env, overrides))
    return {**values, contract.PERMISSIONS_BOUNDARY_PARAMETER: ""}


def way_conditions(tpl: dict, way: str) -> dict[str, bool]:
    """Prod's conditions, with the TLS ones as CloudFormation evaluates them for this way's values."""
    evaluated = cfn.conditions(tpl, way_values(way))
    return {**PROD_CONDITIONS, **{name: evaluated[name] for name in (compute.SERVES_TLS, compute.CREATES_CERTIFICATE)}}


def resolve(node):
    """The template as CloudFormation sees it in prod."""
    return cfn.resolve(node, PROD_CONDITIONS)


def created_by(tpl: dict, way: str) -> dict:
    """The resources CloudFormation creates for one way (prod conditions otherwise), resolved."""
    return cfn.select(tpl["Resources"], way_conditions(tpl, way))


def container(res: dict) -> dict:
    (definition,) = props(res, "TaskDefinition")["ContainerDefinitions"]
    return definition


def role_permissions(role: dict) -> set[tuple[str, str]]:
    """Every (action, resource) pair a role's inline policies allow, resources as canonical JSON."""
    pairs = set()
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            pairs |= {(action, _r(r)) for action in actions for r in resources}
    return pairs


def _r(value) -> str:
    return json.dumps(value, sort_keys=True)


# --- parameters, rules, imports and outputs ---------------------------------------------------------------


def test_parameters_are_exactly_the_compute_schema(tpl):
    # Plus what deploy.py passes and no one sets in params: the permissions boundary (templates/boundary.py),
    # the image's digest and the budget's amount (templates/alerts.py).
    assert set(tpl["Parameters"]) == {p.cfn_name for p in params.stack_parameters("compute")} | {
        contract.PERMISSIONS_BOUNDARY_PARAMETER, contract.IMAGE_DIGEST_PARAMETER, contract.BUDGET_AMOUNT_PARAMETER}
    assert "ImageTag" not in tpl["Parameters"]  # a tag moves; what runs is named by digest
    assert tpl["Parameters"]["FargateCpu"]["AllowedValues"] == ["256", "512", "1024", "2048", "4096"]
    assert tpl["Parameters"]["LogRetentionDays"]["AllowedValues"] == [str(d) for d in params.LOG_RETENTION_DAYS]


def test_rules_allow_exactly_the_fargate_memory_of_each_cpu(tpl):
    rules = {name: rule for name, rule in tpl["Rules"].items() if name.startswith("FargateMemory")}
    assert len(rules) == len(params.FARGATE_MEMORY)
    allowed = {}
    for rule in rules.values():
        param, cpu = rule["RuleCondition"]["Fn::Equals"]
        assert param == ref("FargateCpu")
        (assertion,) = rule["Assertions"]
        memories, value = assertion["Assert"]["Fn::Contains"]
        assert value == ref("FargateMemory")
        assert assertion["AssertDescription"]
        allowed[int(cpu)] = [int(m) for m in memories]
    assert allowed[256] == [512, 1024, 2048]
    assert allowed[512] == [1024, 2048, 3072, 4096]
    assert allowed[4096][0] == 8192 and allowed[4096][-1] == 30720
    assert allowed == {cpu: list(m) for cpu, m in params.FARGATE_MEMORY.items()}


def test_imports_are_exactly_the_contract(tpl):
    found = {
        node["Fn::ImportValue"]["Fn::Sub"].removeprefix("${ProjectName}-")
        for node in walk(tpl)
        if isinstance(node, dict) and "Fn::ImportValue" in node
    }
    assert found == CONTRACT_IMPORTS


def test_outputs_are_exported_under_the_project_prefix(tpl):
    outputs = tpl["Outputs"]
    assert set(outputs) == CONTRACT_OUTPUTS | UNEXPORTED_OUTPUTS
    exported = {name: output for name, output in outputs.items() if "Export" in output}
    assert set(exported) == CONTRACT_OUTPUTS
    for name, output in exported.items():
        assert output["Export"]["Name"] == {"Fn::Sub": f"${{ProjectName}}-{name}"}
    assert outputs["AlbArn"]["Value"] == ref("LoadBalancer")
    assert outputs["AlbDnsName"]["Value"] == {"Fn::GetAtt": ["LoadBalancer", "DNSName"]}
    assert outputs["ClusterName"]["Value"] == ref("Cluster")
    assert outputs["ServiceName"]["Value"] == {"Fn::GetAtt": ["Service", "Name"]}
    assert outputs["ContainerLogGroupName"]["Value"] == ref("ContainerLogGroup")
    assert outputs["TargetGroupArn"]["Value"] == ref("TargetGroup")


@pytest.mark.parametrize("way, url", [
    ("hosted_zone", "https://${DomainName}"),
    ("certificate_arn", "https://${DomainName}"),
    ("plain_http", "http://${LoadBalancer.DNSName}"),
])
def test_api_url_is_https_on_the_domain_unless_plain_http_is_named(tpl, way, url):
    # With TLS the URL is the name the certificate covers: the ALB's own name would fail TLS.
    assert cfn.resolve(tpl["Outputs"]["ApiUrl"]["Value"], way_conditions(tpl, way)) == {"Fn::Sub": url}


def _rules_pass(tpl: dict, values: dict) -> bool:
    """CloudFormation's verdict on the TLS rules for these parameter values."""
    names = ("TlsNamesItsDomain", "TlsHasOneCertificateSource", "PlainHttpHasNoTlsSettings")
    return all(not cfn.evaluate(tpl["Rules"][n]["RuleCondition"], values)
               or all(cfn.evaluate(a["Assert"], values) for a in tpl["Rules"][n]["Assertions"]) for n in names)


@pytest.mark.parametrize("allow_plain_http, domain, certificate, zone, accepted", [
    ("false", DOMAIN, "", "Z0123456789TESTZONE", True),
    ("false", DOMAIN, CERTIFICATE, "", True),
    ("false", DOMAIN, CERTIFICATE, "Z0123456789TESTZONE", False),  # two certificates: which one?
    ("false", DOMAIN, "", "", False),  # TLS with no certificate
    ("false", "", CERTIFICATE, "", False),  # a certificate for no name of ours
    ("false", "", "", "", False),
    ("true", "", "", "", True),
    ("true", DOMAIN, "", "Z0123456789TESTZONE", False),  # plain HTTP never half-configures TLS
])
def test_rules_refuse_tls_with_no_certificate_or_two(tpl, allow_plain_http, domain, certificate, zone, accepted):
    values = {"AllowPlainHttp": allow_plain_http, "DomainName": domain, "CertificateArn": certificate,
              "HostedZoneId": zone}
    assert _rules_pass(tpl, values) is accepted


# --- cluster, logs, task definition --------------------------------------------------------------------------


def test_cluster_has_container_insights_and_both_fargate_providers(res):
    cluster = props(res, "Cluster")
    assert cluster["ClusterName"] == {"Fn::Sub": "${ProjectName}-cluster"}
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["ClusterSettings"]
    association = props(res, "ClusterCapacityProviders")
    assert association["Cluster"] == ref("Cluster")
    assert sorted(association["CapacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]


def test_log_group_name_retention_and_retained(res):
    group = res["ContainerLogGroup"]
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": "/ecs/${ProjectName}/api"}
    assert group["Properties"]["RetentionInDays"] == ref("LogRetentionDays")
    # Retained: CI holds no logs:DeleteLogGroup, and a destroy keeps the record (the next create adopts it).
    assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Retain"


def test_task_size_comes_from_parameters(res):
    task = props(res, "TaskDefinition")
    assert task["Cpu"] == ref("FargateCpu")
    assert task["Memory"] == ref("FargateMemory")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]}
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}


def test_the_image_is_named_by_a_digest_with_no_default(tpl):
    digest = tpl["Parameters"][contract.IMAGE_DIGEST_PARAMETER]
    assert "Default" not in digest  # CloudFormation refuses a change set that does not name the image
    pattern = re.compile(digest["AllowedPattern"])
    assert pattern.fullmatch("sha256:" + "0a" * 32)
    for not_a_digest in ("latest", "sha256:" + "0" * 63, "sha256:" + "A" * 64, "sha512:" + "0" * 64, ""):
        assert not pattern.fullmatch(not_a_digest), not_a_digest


def test_container_image_port_and_logs(res):
    api = container(res)
    assert api["Name"] == contract.CONTAINER_NAME == "api"
    assert api["Image"] == {"Fn::Sub": ["${Repository}@${Digest}", {"Repository": imported("RepositoryUri"),
                                                                     "Digest": ref("ImageDigest")}]}
    assert api["PortMappings"] == [{"ContainerPort": 8000, "Protocol": "tcp"}]
    log = api["LogConfiguration"]
    assert log["LogDriver"] == "awslogs"
    assert log["Options"]["awslogs-group"] == ref("ContainerLogGroup")


def test_container_environment_is_the_cdk_variables_and_redis_tls(res):
    env = {e["Name"]: e["Value"] for e in container(res)["Environment"]}
    assert set(env) == ENV_VARS
    assert env["AWS_DEFAULT_REGION"] == ref("AWS::Region")
    assert env["BEDROCK_MODEL_ID"] == ref("BedrockModelId")
    assert env["CACHE_TTL_DEFAULT"] == ref("CacheTtlDefault")
    assert env["CACHE_TTL_BENEFITS"] == ref("CacheTtlBenefits")
    assert env["CACHE_ENABLED"] == ref("CacheEnabled")
    assert env["S3_BUCKET_UNHANDLED"] == imported("UnhandledBucketName")
    assert env["LANGCHAIN_TRACING_V2"] == ref("LangchainTracingV2")
    assert env["LANGCHAIN_ENDPOINT"] == ref("LangchainEndpoint")
    assert env["LANGCHAIN_PROJECT"] == ref("LangchainProject")
    assert env["REDIS_SSL"] == ref("RedisSsl")


def test_redis_tls_is_on_in_prod_and_off_in_dev():
    assert (params.load_params("prod")["redis_ssl"], params.load_params("dev")["redis_ssl"]) == (True, False)
    # The app defaults to TLS too (secure unless told otherwise), so the contract lists no difference.
    assert "REDIS_SSL" not in contract.LOCAL_DEFAULTS_DIFFER


def test_container_secrets_each_read_their_json_key(res):
    secrets = {s["Name"]: s["ValueFrom"] for s in container(res)["Secrets"]}
    assert set(secrets) == set(SECRET_KEYS)
    for key in SECRET_KEYS:
        assert secrets[key] == {"Fn::Sub": [f"${{Secret}}:{key}::", {"Secret": imported("SecretArn")}]}
    plain = {e["Name"] for e in container(res)["Environment"]}
    assert not plain & set(SECRET_KEYS)


def test_container_health_check_uses_python_not_curl(res):
    check = container(res)["HealthCheck"]
    command = check["Command"]
    assert command[:3] == ["CMD", "python", "-c"]
    assert "urllib.request.urlopen('http://localhost:8000/'" in command[3]
    assert "curl" not in " ".join(command)
    assert check["StartPeriod"] <= 300 and check["Timeout"] < check["Interval"]


def test_root_filesystem_is_read_only_with_a_writable_tmp(res):
    api = container(res)
    assert api["ReadonlyRootFilesystem"] is True
    (mount,) = api["MountPoints"]
    assert mount["ContainerPath"] == "/tmp" and mount["ReadOnly"] is False
    assert props(res, "TaskDefinition")["Volumes"] == [{"Name": mount["SourceVolume"]}]


# --- IAM --------------------------------------------------------------------------------------------------


def test_execution_role_can_only_read_the_one_secret(res):
    role = res["TaskExecutionRole"]
    assert role_permissions(role) == {("secretsmanager:GetSecretValue", _r(imported("SecretArn")))}
    assert role["Properties"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"}
    ]


def test_task_role_can_only_invoke_the_model_and_write_unhandled_queries(res):
    role = res["TaskRole"]
    model = {
        "Fn::Sub": [
            "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${Model}",
            {"Model": ref("BedrockModelId")},
        ]
    }
    objects = {"Fn::Sub": ["${Bucket}/unhandled/*", {"Bucket": imported("UnhandledBucketArn")}]}
    assert role_permissions(role) == {
        ("bedrock:InvokeModel", _r(model)),
        ("bedrock:InvokeModelWithResponseStream", _r(model)),
        ("s3:PutObject", _r(objects)),
    }
    assert "ManagedPolicyArns" not in role["Properties"]


def test_no_wildcard_actions_or_resources(res):
    for role in of_type(res, "AWS::IAM::Role").values():
        for action, resource in role_permissions(role):
            assert "*" not in action
            assert resource != _r("*")


@pytest.mark.parametrize("role_id", ["TaskExecutionRole", "TaskRole"])
def test_only_ecs_tasks_can_assume_the_roles(res, role_id):
    (statement,) = props(res, role_id)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Action"] == ["sts:AssumeRole"]


def test_task_role_trust_is_limited_to_this_account(res):
    (statement,) = props(res, "TaskRole")["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ref("AWS::AccountId")}
    assert statement["Condition"]["ArnLike"] == {
        "aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*"}
    }


# --- network exposure ---------------------------------------------------------------------------------------


def test_service_security_group_admits_only_the_alb_on_8000(res):
    service_sg = props(res, "ServiceSecurityGroup")
    assert "SecurityGroupIngress" not in service_sg
    ingress = [
        r["Properties"]
        for r in of_type(res, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == ref("ServiceSecurityGroup")
    ]
    assert ingress == [
        {
            "GroupId": ref("ServiceSecurityGroup"),
            "IpProtocol": "tcp",
            "FromPort": 8000,
            "ToPort": 8000,
            "SourceSecurityGroupId": ref("LoadBalancerSecurityGroup"),
            "Description": ingress[0]["Description"],
        }
    ]


@pytest.mark.parametrize("way, ports", [("plain_http", {80}), ("hosted_zone", {80, 443}),
                                        ("certificate_arn", {80, 443})])
def test_alb_is_open_on_80_and_on_443_unless_plain_http(tpl, way, ports):
    live = created_by(tpl, way)
    rules = list(live["LoadBalancerSecurityGroup"]["Properties"]["SecurityGroupIngress"])
    rules += [
        r["Properties"]
        for r in live.values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress"
        and r["Properties"]["GroupId"] == ref("LoadBalancerSecurityGroup")
    ]
    assert {(r["FromPort"], r["ToPort"], r["CidrIp"]) for r in rules} == {(p, p, "0.0.0.0/0") for p in ports}


def test_egress_is_explicit_and_the_alb_only_reaches_the_tasks(res):
    alb_egress = props(res, "LoadBalancerSecurityGroup")["SecurityGroupEgress"]
    assert alb_egress == [
        {
            "IpProtocol": "tcp",
            "FromPort": 8000,
            "ToPort": 8000,
            "DestinationSecurityGroupId": ref("ServiceSecurityGroup"),
            "Description": alb_egress[0]["Description"],
        }
    ]
    assert not of_type(res, "AWS::EC2::SecurityGroupEgress")


def test_tasks_reach_out_only_over_https_and_to_the_redis_port(res):
    egress = props(res, "ServiceSecurityGroup")["SecurityGroupEgress"]
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIp"]) for r in egress] == [
        ("tcp", 443, 443, "0.0.0.0/0"),
        ("tcp", ref("RedisPort"), ref("RedisPort"), "0.0.0.0/0"),
    ]
    assert all(r["Description"] for r in egress)
    port = params.BY_KEY["redis_port"]
    assert (port.default, port.min, port.max) == (6379, 1, 65535)


def test_alb_is_public_and_drops_invalid_headers(res):
    alb = props(res, "LoadBalancer")
    assert alb["Scheme"] == "internet-facing"
    assert alb["Type"] == "application"
    assert alb["Subnets"] == {"Fn::Split": [",", imported("PublicSubnetIds")]}
    assert alb["SecurityGroups"] == [ref("LoadBalancerSecurityGroup")]
    attributes = {a["Key"]: a["Value"] for a in resolve(alb["LoadBalancerAttributes"])}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"


def test_alb_deletion_protection_follows_its_parameter_on_in_prod_off_in_dev(res):
    attributes = {a["Key"]: a["Value"] for a in resolve(props(res, "LoadBalancer")["LoadBalancerAttributes"])}
    assert attributes["deletion_protection.enabled"] == ref("AlbDeletionProtection")
    assert params.load_params("prod")["alb_deletion_protection"] is True
    assert params.load_params("dev")["alb_deletion_protection"] is False


# --- ALB access logs ---------------------------------------------------------------------------------------


def access_log_resources(tpl: dict, on: bool) -> dict:
    return cfn.select(tpl["Resources"], {**PROD_CONDITIONS, "AlbAccessLogsOn": on})


def test_access_logs_condition_is_the_parameter(tpl):
    assert tpl["Conditions"]["AlbAccessLogsOn"] == {"Fn::Equals": [ref("AlbAccessLogs"), "true"]}
    assert params.load_params("prod")["alb_access_logs"] is True
    assert params.load_params("dev")["alb_access_logs"] is False


@pytest.mark.parametrize("on", [True, False])
def test_alb_writes_access_logs_to_its_bucket_only_when_on(tpl, on):
    live = access_log_resources(tpl, on)
    assert ("AlbLogsBucket" in live, "AlbLogsBucketPolicy" in live) == (on, on)
    attributes = {a["Key"]: a["Value"] for a in live["LoadBalancer"]["Properties"]["LoadBalancerAttributes"]}
    # Set either way: turning logs off on an existing ALB must switch them off, not leave the last value.
    assert attributes["access_logs.s3.enabled"] == ref("AlbAccessLogs")
    assert attributes.get("access_logs.s3.bucket") == (ref("AlbLogsBucket") if on else None)
    # ELB checks it may write when logging is turned on: the ALB waits for the bucket policy.
    assert live["LoadBalancer"]["DependsOn"] == ["AccessLogsReady"]
    assert live["AccessLogsReady"]["Metadata"] == {"AlbLogsBucketPolicy": ref("AlbLogsBucketPolicy") if on else ""}


def test_access_log_bucket_is_private_sse_s3_and_expires_logs(res):
    bucket = res["AlbLogsBucket"]
    assert bucket["Condition"] == "AlbAccessLogsOn"
    props_ = bucket["Properties"]
    assert props_["BucketName"] == {"Fn::Sub": "${ProjectName}-alb-logs-${AWS::AccountId}-${AWS::Region}"}
    assert props_["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    # SSE-S3: ALB access logging refuses a bucket encrypted with KMS.
    (rule,) = props_["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    assert props_["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (lifecycle,) = props_["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Status"] == "Enabled"
    assert lifecycle["ExpirationInDays"] == ref("AlbLogsExpiryDays")
    assert lifecycle["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_access_log_bucket_outlives_destroy_and_replacement(res):
    # destroy cannot delete a bucket that holds objects; retained, the next create adopts it again.
    assert (res["AlbLogsBucket"]["DeletionPolicy"], res["AlbLogsBucket"]["UpdateReplacePolicy"]) == ("Retain",) * 2


def test_access_log_bucket_policy_lets_elb_write_its_logs_and_denies_plain_http(res):
    policy = res["AlbLogsBucketPolicy"]
    assert policy["Condition"] == "AlbAccessLogsOn"
    assert policy["Properties"]["Bucket"] == ref("AlbLogsBucket")
    write, deny = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (write["Effect"], write["Action"]) == ("Allow", "s3:PutObject")
    assert write["Resource"] == {"Fn::Sub": "${AlbLogsBucket.Arn}/AWSLogs/${AWS::AccountId}/*"}
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [{"Fn::GetAtt": ["AlbLogsBucket", "Arn"]}, {"Fn::Sub": "${AlbLogsBucket.Arn}/*"}]


def delivery_principal(tpl: dict, region: str) -> dict:
    """The bucket policy's writer in ``region``: the mapping looked up, the condition evaluated, Fn::If chosen."""
    mapping = tpl["Mappings"]["ElbLogDelivery"]
    value = mapping[region]["Principal"]
    lookup = {"Fn::FindInMap": ["ElbLogDelivery", ref("AWS::Region"), "Principal"]}
    (condition,) = [name for name, expr in tpl["Conditions"].items() if lookup in expr.get("Fn::Equals", [])]
    left, right = tpl["Conditions"][condition]["Fn::Equals"]
    as_service = (value == right) if left == lookup else (value == left)
    write = tpl["Resources"]["AlbLogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    principal = cfn.resolve(write["Principal"], {condition: as_service})
    (kind, expr), = principal.items()
    if kind == "AWS":
        text, variables = expr["Fn::Sub"]
        assert variables == {"ElbAccount": lookup}
        return {kind: text.replace("${ElbAccount}", value)}
    assert expr == lookup
    return {kind: value}


@pytest.mark.parametrize(("region", "principal"), [
    # Regions available before August 2022: that region's Elastic Load Balancing account.
    ("us-east-1", {"AWS": "arn:${AWS::Partition}:iam::127311923021:root"}),
    ("eu-west-1", {"AWS": "arn:${AWS::Partition}:iam::156460612806:root"}),
    # Regions opened since: the log delivery service principal.
    ("eu-south-2", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    ("mx-central-1", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
])
def test_log_writer_depends_on_the_region(tpl, region, principal):
    assert delivery_principal(tpl, region) == principal


def test_log_writer_mapping_covers_every_region_botocore_knows():
    # A region missing from the mapping fails the whole compute stack (Fn::FindInMap is evaluated either way).
    from botocore.loaders import Loader

    partitions = {p["partition"]: p["regions"] for p in Loader().load_data("endpoints")["partitions"]}
    known = {region for name in ("aws", "aws-us-gov", "aws-cn") for region in partitions[name]}
    assert known - set(compute.ELB_LOG_DELIVERY) == set()


def test_target_group_health_check_and_short_deregistration(res):
    group = props(res, "TargetGroup")
    assert (group["Protocol"], group["Port"], group["TargetType"]) == ("HTTP", 8000, "ip")
    assert group["HealthCheckPath"] == "/"
    assert group["Matcher"] == {"HttpCode": "200"}
    attributes = {a["Key"]: a["Value"] for a in group["TargetGroupAttributes"]}
    assert attributes["deregistration_delay.timeout_seconds"] == "30"


def test_tls_is_on_unless_allow_plain_http_and_the_certificate_is_made_only_with_a_zone(tpl):
    assert {way: way_conditions(tpl, way)[compute.SERVES_TLS] for way in WAYS} == {
        "hosted_zone": True, "certificate_arn": True, "plain_http": False}
    assert {way: way_conditions(tpl, way)[compute.CREATES_CERTIFICATE] for way in WAYS} == {
        "hosted_zone": True, "certificate_arn": False, "plain_http": False}


def test_plain_http_forwards_port_80_and_has_no_https_certificate_or_record(tpl):
    live = created_by(tpl, "plain_http")
    assert {"HttpsListener", "Certificate", "ApiDnsRecord"}.isdisjoint(live)
    http = live["HttpListener"]["Properties"]
    assert (http["Port"], http["Protocol"]) == (80, "HTTP")
    assert http["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": ref("TargetGroup")}]


@pytest.mark.parametrize("way", TLS_WAYS)
def test_with_tls_port_80_only_redirects_to_https(tpl, way):
    http = created_by(tpl, way)["HttpListener"]["Properties"]
    assert (http["Port"], http["Protocol"]) == (80, "HTTP")
    assert http["DefaultActions"] == [
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    ]


@pytest.mark.parametrize("way, certificate", [("hosted_zone", ref("Certificate")),
                                              ("certificate_arn", ref("CertificateArn"))])
def test_https_listener_uses_the_recommended_policy_the_certificate_and_sends_hsts(tpl, way, certificate):
    https = created_by(tpl, way)["HttpsListener"]["Properties"]
    assert (https["Port"], https["Protocol"]) == (443, "HTTPS")
    # AWS's recommended ALB policy (the console's default): TLS 1.3 and 1.2 only, post-quantum key exchange.
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
    assert https["Certificates"] == [{"CertificateArn": certificate}]
    assert https["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": ref("TargetGroup")}]
    attributes = {a["Key"]: a["Value"] for a in https["ListenerAttributes"]}
    hsts = attributes["routing.http.response.strict_transport_security.header_value"]
    max_age = int(dict(part.strip().partition("=")[::2] for part in hsts.split(";"))["max-age"])
    assert max_age >= 365 * 24 * 3600, hsts  # a year at least: shorter lets a downgrade back in between visits


def test_with_a_zone_compute_requests_a_dns_validated_certificate_and_points_the_domain_at_the_alb(tpl):
    live = created_by(tpl, "hosted_zone")
    certificate = live["Certificate"]
    assert certificate["Type"] == "AWS::CertificateManager::Certificate"
    assert certificate["Properties"] == {
        "DomainName": ref("DomainName"),
        "ValidationMethod": "DNS",
        "DomainValidationOptions": [{"DomainName": ref("DomainName"), "HostedZoneId": ref("HostedZoneId")}],
    }
    record = live["ApiDnsRecord"]
    assert record["Type"] == "AWS::Route53::RecordSet"
    # A only: the ALB is IPv4 (no IpAddressType dualstack), so there is no AAAA to point anywhere.
    assert "IpAddressType" not in props(tpl["Resources"], "LoadBalancer")
    assert record["Properties"] == {
        "HostedZoneId": ref("HostedZoneId"),
        "Name": ref("DomainName"),
        "Type": "A",
        "AliasTarget": {"DNSName": {"Fn::GetAtt": ["LoadBalancer", "DNSName"]},
                        "HostedZoneId": {"Fn::GetAtt": ["LoadBalancer", "CanonicalHostedZoneID"]},
                        "EvaluateTargetHealth": False},
    }
    assert {"Certificate", "ApiDnsRecord"}.isdisjoint(created_by(tpl, "certificate_arn"))


def test_the_port_80_listener_declares_why_checkov_and_guard_flag_it(res):
    metadata = res["HttpListener"]["Metadata"]
    (skip,) = metadata["checkov"]["skip"]
    assert skip["id"] == "CKV_AWS_2"
    assert "redirect" in skip["comment"] and "allow_plain_http" in skip["comment"]
    assert metadata["guard"]["SuppressedRules"] == ["ELBV2_LISTENER_PROTOCOL_RULE", "ELBV2_LISTENER_SSL_POLICY_RULE"]


# --- service and auto scaling -------------------------------------------------------------------------------


def test_service_runs_spot_weighted_with_an_on_demand_base(res):
    service = props(res, "Service")
    assert service["CapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE", "Base": 1, "Weight": 1},
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 2},
    ]
    assert "LaunchType" not in service
    assert (
        props(res, "ClusterCapacityProviders")["DefaultCapacityProviderStrategy"] == service["CapacityProviderStrategy"]
    )


def test_service_deploys_safely(res):
    service = props(res, "Service")
    assert service["ServiceName"] == {"Fn::Sub": "${ProjectName}-api"}
    deployment = service["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == (100, 200)
    assert service["HealthCheckGracePeriodSeconds"] == 60


def test_auto_scaling_owns_the_desired_count(res):
    assert "DesiredCount" not in props(res, "Service")


def test_service_runs_in_the_app_subnets_behind_the_target_group(res):
    service = props(res, "Service")
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["Subnets"] == {"Fn::Split": [",", imported("AppSubnetIds")]}
    assert network["AssignPublicIp"] == imported("AppAssignPublicIp")
    assert network["SecurityGroups"] == [ref("ServiceSecurityGroup")]
    assert service["LoadBalancers"] == [
        {"ContainerName": "api", "ContainerPort": 8000, "TargetGroupArn": ref("TargetGroup")}
    ]


@pytest.mark.parametrize("way, listener", [("plain_http", "HttpListener"), ("hosted_zone", "HttpsListener")])
def test_service_waits_for_the_listener_that_forwards_to_it(tpl, res, way, listener):
    depends_on = res["Service"]["DependsOn"]
    assert "ClusterCapacityProviders" in depends_on
    (handle,) = [d for d in depends_on if res[d]["Type"] == "AWS::CloudFormation::WaitConditionHandle"]
    metadata = cfn.resolve(res[handle]["Metadata"], way_conditions(tpl, way))
    assert ref(listener) in metadata.values()


def test_scalable_target_bounds_come_from_parameters(res):
    target = props(res, "ScalableTarget")
    assert target["MinCapacity"] == ref("MinCapacity")
    assert target["MaxCapacity"] == ref("MaxCapacity")
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    assert target["ResourceId"] == {"Fn::Join": ["/", ["service", ref("Cluster"), {"Fn::GetAtt": ["Service", "Name"]}]]}
    assert target["RoleARN"]["Fn::Sub"].endswith(
        ":role/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
        "AWSServiceRoleForApplicationAutoScaling_ECSService"
    )


def test_scales_on_cpu_70_and_500_requests_per_target(res):
    policies = of_type(res, "AWS::ApplicationAutoScaling::ScalingPolicy")
    assert set(policies) == {"ScaleOnCpu", "ScaleOnRequests"}
    config = {k: v["Properties"]["TargetTrackingScalingPolicyConfiguration"] for k, v in policies.items()}
    for policy in policies.values():
        assert policy["Properties"]["PolicyType"] == "TargetTrackingScaling"
        assert policy["Properties"]["ScalingTargetId"] == ref("ScalableTarget")
    for c in config.values():
        assert (c["ScaleInCooldown"], c["ScaleOutCooldown"]) == (300, 60)
    assert config["ScaleOnCpu"]["TargetValue"] == 70
    assert config["ScaleOnCpu"]["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
    }
    assert config["ScaleOnRequests"]["TargetValue"] == 500
    requests = config["ScaleOnRequests"]["PredefinedMetricSpecification"]
    assert requests["PredefinedMetricType"] == "ALBRequestCountPerTarget"
    assert requests["ResourceLabel"] == {
        "Fn::Join": [
            "/",
            [
                {"Fn::GetAtt": ["LoadBalancer", "LoadBalancerFullName"]},
                {"Fn::GetAtt": ["TargetGroup", "TargetGroupFullName"]},
            ],
        ]
    }


def test_no_string_surgery_on_arns(tpl):
    # LocalStack fails Fn::Select/Fn::Split over ELB ARNs; only the comma-joined subnet imports are split.
    splits = [node["Fn::Split"] for node in walk(tpl) if isinstance(node, dict) and "Fn::Split" in node]
    assert splits and all(s[1] in (imported("PublicSubnetIds"), imported("AppSubnetIds")) for s in splits)
    assert not [node for node in walk(tpl) if isinstance(node, dict) and "Fn::Select" in node]
