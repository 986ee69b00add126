"""compute stack: the API on ECS Fargate behind a public ALB, with auto scaling.

Imports the network (VPC, subnets) and data (secret, bucket, ECR repository)
exports; exports the ALB ARN for the waf stack and the names operators need.
"""

from __future__ import annotations

from awacs import bedrock, s3, secretsmanager, sts
from awacs.aws import Allow, ArnLike, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import (
    And,
    Equals,
    FindInMap,
    GetAtt,
    If,
    Join,
    Not,
    Or,
    Output,
    Parameter,
    Ref,
    Split,
    Sub,
    Template,
    cloudwatch,
    ec2,
    ecs,
    iam,
    logs,
    route53,
)
from troposphere import Condition as CfnCondition
from troposphere import applicationautoscaling as aas
from troposphere import certificatemanager as acm
from troposphere import elasticloadbalancingv2 as elb
from troposphere import s3 as buckets
from troposphere.cloudformation import WaitConditionHandle

import contract
from templates import alarms, alerts, boundary, naming, params, storage
from templates.metadata import checkov_skip, guard_suppress

SERVES_TLS = "ServesTls"
CREATES_CERTIFICATE = "CreatesCertificate"
ALB_ACCESS_LOGS = "AlbAccessLogsOn"
ELB_DELIVERS_AS_SERVICE = "ElbDeliversLogsAsService"

# Who writes ALB access logs to the bucket, by region (Elastic Load Balancing User Guide, "Enable access logs
# for your Application Load Balancer", step 2). Regions available before August 2022 take that region's
# Elastic Load Balancing account; regions opened since, the log delivery service principal. A region
# missing here fails the compute stack on Fn::FindInMap: add it from that guide (a test checks this table
# covers every region botocore knows in the aws, aws-us-gov and aws-cn partitions).
ELB_LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"
ELB_LOG_DELIVERY_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580",
    "ap-south-1": "718504428378",
    "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-south-1": "635631232127",
    "eu-west-3": "009996457667",
    "eu-north-1": "897822967062",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
    "us-gov-west-1": "048591011584",
    "us-gov-east-1": "190560391635",
    "cn-north-1": "638102146993",
    "cn-northwest-1": "037604701340",
}
ELB_LOG_DELIVERY_SERVICE_REGIONS = (
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "mx-central-1",
)
ELB_LOG_DELIVERY = {**ELB_LOG_DELIVERY_ACCOUNTS, **dict.fromkeys(ELB_LOG_DELIVERY_SERVICE_REGIONS,
                                                                 ELB_LOG_DELIVERY_SERVICE)}
ELB_LOG_DELIVERY_MAP = "ElbLogDelivery"
ELB_LOG_DELIVERY_KEY = "Principal"

HTTP_PORT = 80
HTTPS_PORT = 443
# AWS's recommended ALB policy (Elastic Load Balancing guide, "Security policies for your Application Load
# Balancer"), the console's default: TLS 1.3 and 1.2 only, forward-secret ciphers, and hybrid post-quantum
# key exchange (ML-KEM) for clients that offer it. CloudFormation's default, ELBSecurityPolicy-2016-08,
# still accepts TLS 1.0, so the policy is always named.
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
# Sent by the HTTPS listener with every answer, so a browser that once reached the API never tries plain
# HTTP again for a year. The listener rather than the app: the app hears only HTTP from the ALB and cannot
# tell a TLS client from a plain one, while this listener is TLS by construction (RFC 6797 forbids the
# header over plain HTTP), and it covers every answer whatever the app's code does.
HSTS_ATTRIBUTE = "routing.http.response.strict_transport_security.header_value"
HSTS_VALUE = "max-age=31536000; includeSubDomains"

SPOT_WEIGHT = 2
ON_DEMAND_WEIGHT = 1
ON_DEMAND_BASE = 1

CPU_TARGET_PERCENT = 70
REQUESTS_PER_TARGET = 500
SCALE_IN_COOLDOWN = 300
SCALE_OUT_COOLDOWN = 60

HEALTH_CHECK_GRACE_SECONDS = 60
DEREGISTRATION_DELAY_SECONDS = 30

# The service-linked role Application Auto Scaling creates on first use; naming
# it keeps the template from creating (and owning) a role of its own.
AUTOSCALING_ROLE_ARN = (
    "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/"
    "ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService"
)

TMP_VOLUME = "tmp"


def build() -> Template:
    t = Template(Description="ia-comafi compute: the benefits API on ECS Fargate behind a public ALB")
    p = params.add_parameters(t, contract.COMPUTE)
    boundary.add_parameter(t)
    image_digest = add_image_digest_parameter(t)
    t.add_condition(SERVES_TLS, Equals(Ref(p["allow_plain_http"]), "false"))
    t.add_condition(CREATES_CERTIFICATE, And(CfnCondition(SERVES_TLS), Not(Equals(Ref(p["hosted_zone_id"]), ""))))
    _add_fargate_size_rules(t, p)
    _add_tls_rules(t, p)

    log_group = _create_log_group(t, p)
    cluster = _create_cluster(t)
    execution_role = _create_execution_role(t)
    task_role = _create_task_role(t, p)
    task_definition = _create_task_definition(t, p, image_digest, log_group, execution_role, task_role)

    alb_sg, service_sg = _create_security_groups(t, p)
    access_logs_ready = _create_access_log_bucket(t, p)
    load_balancer = _create_load_balancer(t, p, alb_sg, access_logs_ready)
    target_group = _create_target_group(t)
    certificate_arn = _create_certificate(t, p)
    _create_dns_record(t, p, load_balancer)
    listeners_ready = _add_listeners(t, certificate_arn, load_balancer, target_group)

    # The release safety net (templates/alarms.py): the ALB's alarms exist before the service, whose
    # deployments they watch; the service's own alarms and the dashboard name the service.
    topic = alarms.create_topic(t, p)
    release_alarms = alarms.create_release_alarms(t, p, topic, load_balancer, target_group)
    service = _create_service(
        t, cluster, task_definition, service_sg, target_group, listeners_ready, release_alarms.deployment
    )
    _add_auto_scaling(t, p, cluster, service, load_balancer, target_group)
    service_alarms = alarms.create_service_alarms(t, p, topic, cluster, service)
    release_health = alarms.create_release_health(t, topic, release_alarms)
    dashboard = alarms.create_dashboard(
        t, [release_health, *release_alarms.all, *service_alarms], contract.WAF_RULE_METRICS,
        cluster, service, load_balancer, target_group,
    )

    # Who is told of CI's sensitive calls and of spend beyond the estimate (templates/alerts.py).
    alerts.create_rules(t, topic)
    alerts.create_budget(t, topic)

    _add_outputs(t, cluster, service, log_group, load_balancer, target_group, topic)
    t.add_output(Output(contract.DASHBOARD_URL, Description="CloudWatch dashboard of the service",
                        Value=alarms.dashboard_url(dashboard)))
    t.add_output(Output(contract.RELEASE_HEALTH_ALARM_ARN,
                        Description="Composite alarm the deployer passes as compute's rollback trigger",
                        Value=GetAtt(release_health, "Arn")))
    return t


def _add_fargate_size_rules(t: Template, p: dict) -> None:
    """Reject, before any resource changes, a CPU/memory pair Fargate would refuse at task launch."""
    for cpu, memories in params.FARGATE_MEMORY.items():
        t.add_rule(
            f"FargateMemoryFor{cpu}Cpu",
            {
                "RuleCondition": Equals(Ref(p["fargate_cpu"]), str(cpu)),
                "Assertions": [
                    {
                        "Assert": {"Fn::Contains": [[str(m) for m in memories], Ref(p["fargate_memory"])]},
                        "AssertDescription": f"With FargateCpu {cpu}, FargateMemory must be one of "
                        + ", ".join(map(str, memories)),
                    }
                ],
            },
        )


def _add_tls_rules(t: Template, p: dict) -> None:
    """Refuse, before any resource changes, TLS settings that name no certificate, or two (templates/params.py
    checks the same before deploy.py sends them; these hold for a stack changed from the console)."""
    empty = {key: Equals(Ref(p[key]), "") for key in ("domain_name", "certificate_arn", "hosted_zone_id")}
    tls = Equals(Ref(p["allow_plain_http"]), "false")
    t.add_rule("TlsNamesItsDomain", {
        "RuleCondition": tls,
        "Assertions": [{"Assert": Not(empty["domain_name"]),
                        "AssertDescription": "With AllowPlainHttp false, DomainName names the API's host"}],
    })
    t.add_rule("TlsHasOneCertificateSource", {
        "RuleCondition": tls,
        "Assertions": [{
            "Assert": Or(And(Not(empty["certificate_arn"]), empty["hosted_zone_id"]),
                         And(empty["certificate_arn"], Not(empty["hosted_zone_id"]))),
            "AssertDescription": "With AllowPlainHttp false, give exactly one of CertificateArn (an existing "
                                 "certificate) and HostedZoneId (compute requests one)",
        }],
    })
    t.add_rule("PlainHttpHasNoTlsSettings", {
        "RuleCondition": Not(tls),
        "Assertions": [{"Assert": And(*empty.values()),
                        "AssertDescription": "With AllowPlainHttp true, DomainName, CertificateArn and HostedZoneId "
                                             "stay empty (HTTP only)"}],
    })


def _create_log_group(t: Template, p: dict) -> logs.LogGroup:
    return t.add_resource(storage.log_group("ContainerLogGroup", "container_log_group", Ref(p["log_retention_days"])))


def _create_cluster(t: Template) -> ecs.Cluster:
    cluster = t.add_resource(
        ecs.Cluster(
            "Cluster",
            ClusterName=naming.resource_name_sub("cluster"),
            ClusterSettings=[ecs.ClusterSetting(Name="containerInsights", Value="enabled")],
        )
    )
    t.add_resource(
        ecs.ClusterCapacityProviderAssociations(
            "ClusterCapacityProviders",
            Cluster=Ref(cluster),
            CapacityProviders=["FARGATE", "FARGATE_SPOT"],
            DefaultCapacityProviderStrategy=_capacity_provider_strategy(ecs.CapacityProviderStrategy),
        )
    )
    return cluster


def _capacity_provider_strategy(item_type: type) -> list:
    # The on-demand base keeps one task off Spot, so a Spot reclaim never takes the API down.
    return [
        item_type(CapacityProvider="FARGATE", Base=ON_DEMAND_BASE, Weight=ON_DEMAND_WEIGHT),
        item_type(CapacityProvider="FARGATE_SPOT", Weight=SPOT_WEIGHT),
    ]


def _ecs_tasks_trust(*conditions: Condition) -> PolicyDocument:
    statement = Statement(
        Effect=Allow,
        Principal=Principal("Service", "ecs-tasks.amazonaws.com"),
        Action=[sts.AssumeRole],
    )
    if conditions:
        statement.Condition = Condition(list(conditions))
    return PolicyDocument(Version="2012-10-17", Statement=[statement])


def _policy(name: str, actions: list, resource) -> iam.Policy:
    """An inline policy of one Allow statement: these actions on this one resource."""
    return iam.Policy(
        PolicyName=name,
        PolicyDocument=PolicyDocument(
            Version="2012-10-17", Statement=[Statement(Effect=Allow, Action=actions, Resource=[resource])]
        ),
    )


def _create_execution_role(t: Template) -> iam.Role:
    # ECS documents the confused-deputy condition keys for the task role only; the
    # agent that assumes the execution role is not guaranteed to send them, and a
    # condition it cannot meet would stop every task from starting.
    return t.add_resource(
        iam.Role(
            "TaskExecutionRole",
            RoleName=naming.resource_name_sub("task_execution_role"),
            PermissionsBoundary=boundary.role_boundary(),
            AssumeRolePolicyDocument=_ecs_tasks_trust(),
            ManagedPolicyArns=[
                Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
            ],
            Policies=[
                _policy("read-app-secrets", [secretsmanager.GetSecretValue], naming.import_value(contract.SECRET_ARN)),
            ],
        )
    )


def _create_task_role(t: Template, p: dict) -> iam.Role:
    return t.add_resource(
        iam.Role(
            "TaskRole",
            RoleName=naming.resource_name_sub("task_role"),
            PermissionsBoundary=boundary.role_boundary(),
            AssumeRolePolicyDocument=_ecs_tasks_trust(
                StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
                ArnLike("aws:SourceArn", Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*")),
            ),
            Policies=[
                _policy(
                    "invoke-model",
                    [bedrock.InvokeModel, bedrock.InvokeModelWithResponseStream],
                    Sub(
                        "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${Model}",
                        Model=Ref(p["bedrock_model_id"]),
                    ),
                ),
                # The API writes only under unhandled/ (app/unhandled.py).
                _policy(
                    "store-unhandled-queries",
                    [s3.PutObject],
                    Sub("${Bucket}/unhandled/*", Bucket=naming.import_value(contract.UNHANDLED_BUCKET_ARN)),
                ),
            ],
        )
    )


def add_image_digest_parameter(t: Template) -> Parameter:
    """The image the task definition runs, by digest. No default and no tag: deploy.py resolves the tag it is
    given to its digest once, so a tag moved in ECR later never changes what runs (nor what a new task pulls)."""
    return t.add_parameter(Parameter(
        contract.IMAGE_DIGEST_PARAMETER,
        Type="String",
        AllowedPattern=f"^{contract.IMAGE_DIGEST_PATTERN}$",
        ConstraintDescription="must be an image digest, sha256: and 64 lowercase hex digits",
        Description="Digest of the API image in the ECR repository (set by deploy.py from the tag it resolves)",
    ))


def _create_task_definition(
    t: Template,
    p: dict,
    image_digest: Parameter,
    log_group: logs.LogGroup,
    execution_role: iam.Role,
    task_role: iam.Role,
) -> ecs.TaskDefinition:
    computed = {
        "AWS_DEFAULT_REGION": Ref("AWS::Region"),
        "S3_BUCKET_UNHANDLED": naming.import_value(contract.UNHANDLED_BUCKET_NAME),
    }
    environment = {name: computed[name] if key is None else Ref(p[key])
                   for name, key in contract.CONTAINER_ENVIRONMENT.items()}
    secret_arn = naming.import_value(contract.SECRET_ARN)
    # The image is python-slim: no curl, so the check speaks HTTP with the stdlib.
    probe = f"import urllib.request; urllib.request.urlopen('http://localhost:{contract.CONTAINER_PORT}/', timeout=4)"
    container = ecs.ContainerDefinition(
        Name=contract.CONTAINER_NAME,
        Image=Sub("${Repository}@${Digest}", Repository=naming.import_value(contract.REPOSITORY_URI),
                  Digest=Ref(image_digest)),
        Essential=True,
        PortMappings=[ecs.PortMapping(ContainerPort=contract.CONTAINER_PORT, Protocol="tcp")],
        Environment=[ecs.Environment(Name=name, Value=value) for name, value in environment.items()],
        # Each variable reads its own JSON key of the one secret (ARN:json-key:version-stage:version-id).
        Secrets=[ecs.Secret(Name=key, ValueFrom=Sub(f"${{Secret}}:{key}::", Secret=secret_arn))
                 for key in contract.SECRET_KEYS],
        LogConfiguration=ecs.LogConfiguration(
            LogDriver="awslogs",
            Options={
                "awslogs-group": Ref(log_group),
                "awslogs-region": Ref("AWS::Region"),
                "awslogs-stream-prefix": contract.CONTAINER_NAME,
            },
        ),
        HealthCheck=ecs.HealthCheck(
            Command=["CMD", "python", "-c", probe],
            Interval=30,
            Timeout=5,
            Retries=3,
            StartPeriod=30,
        ),
        # uvicorn writes nothing to disk; /tmp stays writable (a task volume) for
        # libraries that spool temporary files.
        ReadonlyRootFilesystem=True,
        MountPoints=[ecs.MountPoint(ContainerPath="/tmp", SourceVolume=TMP_VOLUME, ReadOnly=False)],
    )
    return t.add_resource(
        ecs.TaskDefinition(
            "TaskDefinition",
            # Every change of a task definition is a replacement (its registry schema: every property but Tags
            # is create-only), and CloudFormation deregisters the replaced revision. Retained, it never does:
            # the CI roles hold no ecs:DeregisterTaskDefinition, which IAM authorizes only on "*" and so would
            # reach every environment's task definitions in the account. Old revisions stay registered; they
            # cost nothing, and an admin may deregister them (docs/runbook.md).
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
            Family=naming.resource_name_sub("service"),
            RequiresCompatibilities=["FARGATE"],
            NetworkMode="awsvpc",
            Cpu=Ref(p["fargate_cpu"]),
            Memory=Ref(p["fargate_memory"]),
            ExecutionRoleArn=GetAtt(execution_role, "Arn"),
            TaskRoleArn=GetAtt(task_role, "Arn"),
            ContainerDefinitions=[container],
            Volumes=[ecs.Volume(Name=TMP_VOLUME)],
        )
    )


def _create_security_groups(t: Template, p: dict) -> tuple[ec2.SecurityGroup, ec2.SecurityGroup]:
    vpc_id = naming.import_value(contract.VPC_ID)
    service_sg = t.add_resource(_service_security_group(p, vpc_id))
    alb_sg = t.add_resource(_load_balancer_security_group(vpc_id, service_sg))
    t.add_resource(_load_balancer_https_ingress(alb_sg))
    t.add_resource(_service_ingress_from_load_balancer(service_sg, alb_sg))
    return alb_sg, service_sg


# Inline egress on both groups: CloudFormation removes the default allow-all
# egress rule only when SecurityGroupEgress is given inline.
def _service_security_group(p: dict, vpc_id) -> ec2.SecurityGroup:
    return ec2.SecurityGroup(
        "ServiceSecurityGroup",
        GroupDescription="API tasks: traffic from the ALB only",
        VpcId=vpc_id,
        SecurityGroupEgress=_service_egress(p),
    )


def _load_balancer_security_group(vpc_id, service_sg: ec2.SecurityGroup) -> ec2.SecurityGroup:
    return ec2.SecurityGroup(
        "LoadBalancerSecurityGroup",
        GroupDescription="Public ALB: HTTP (and HTTPS with a certificate) from anywhere",
        VpcId=vpc_id,
        SecurityGroupIngress=[
            ec2.SecurityGroupRule(
                IpProtocol="tcp",
                FromPort=HTTP_PORT,
                ToPort=HTTP_PORT,
                CidrIp="0.0.0.0/0",
                Description="HTTP from the internet: redirected to HTTPS unless allow_plain_http",
            ),
        ],
        SecurityGroupEgress=[
            ec2.SecurityGroupRule(
                IpProtocol="tcp",
                FromPort=contract.CONTAINER_PORT,
                ToPort=contract.CONTAINER_PORT,
                DestinationSecurityGroupId=Ref(service_sg),
                Description="To the API tasks",
            )
        ],
        Metadata=checkov_skip(
            (
                "CKV_AWS_260",
                "A public API's load balancer: ports 80 and 443 must be open to the internet (80 only "
                "redirects to 443 unless allow_plain_http, which prod refuses); WAF filters the traffic",
            ),
        ),
    )


def _load_balancer_https_ingress(alb_sg: ec2.SecurityGroup) -> ec2.SecurityGroupIngress:
    return ec2.SecurityGroupIngress(
        "LoadBalancerHttpsIngress",
        Condition=SERVES_TLS,
        GroupId=Ref(alb_sg),
        IpProtocol="tcp",
        FromPort=HTTPS_PORT,
        ToPort=HTTPS_PORT,
        CidrIp="0.0.0.0/0",
        Description="HTTPS from the internet",
    )


def _service_ingress_from_load_balancer(service_sg: ec2.SecurityGroup,
                                        alb_sg: ec2.SecurityGroup) -> ec2.SecurityGroupIngress:
    # A separate rule, not inline, because inline it would make the two groups reference each other.
    return ec2.SecurityGroupIngress(
        "ServiceIngressFromLoadBalancer",
        GroupId=Ref(service_sg),
        IpProtocol="tcp",
        FromPort=contract.CONTAINER_PORT,
        ToPort=contract.CONTAINER_PORT,
        SourceSecurityGroupId=Ref(alb_sg),
        Description="From the ALB to the API container port",
    )


def _service_egress(p: dict) -> list[ec2.SecurityGroupRule]:
    """HTTPS and the Redis port, nothing else.

    Both to 0.0.0.0/0: the AWS endpoints the tasks call (Bedrock, ECR, Secrets Manager, CloudWatch Logs,
    S3) answer on public addresses that AWS changes (ip-ranges.json lists thousands of prefixes, far over a
    security group's rule limit) and the VPC has no interface endpoints; LangSmith publishes no address
    range; the Redis host is external, named in the secret, its address free to change. S3's gateway
    endpoint prefix list would narrow S3 alone, which 443 to anywhere allows anyway. DNS needs no rule: a
    security group never filters the VPC's own resolver.
    """
    return [
        ec2.SecurityGroupRule(
            IpProtocol="tcp",
            FromPort=HTTPS_PORT,
            ToPort=HTTPS_PORT,
            CidrIp="0.0.0.0/0",
            Description="AWS APIs (Bedrock, ECR, Secrets Manager, Logs, S3) and LangSmith over HTTPS",
        ),
        ec2.SecurityGroupRule(
            IpProtocol="tcp",
            FromPort=Ref(p["redis_port"]),
            ToPort=Ref(p["redis_port"]),
            CidrIp="0.0.0.0/0",
            Description="The external Redis on its port (redis_port)",
        ),
    ]


def _create_access_log_bucket(t: Template, p: dict) -> WaitConditionHandle:
    """The ALB's access-log bucket, when alb_access_logs is on; returns what the ALB must wait for.

    Retained on delete: `destroy` cannot delete a bucket that holds objects, and the logs are the record of
    who sent what. The next create of the stack adopts it again (the deployer imports retained resources
    with a fixed name); until then its lifecycle keeps expiring what it holds.
    """
    t.add_condition(ALB_ACCESS_LOGS, Equals(Ref(p["alb_access_logs"]), "true"))
    t.add_mapping(ELB_LOG_DELIVERY_MAP, {
        region: {ELB_LOG_DELIVERY_KEY: principal} for region, principal in sorted(ELB_LOG_DELIVERY.items())
    })
    principal = FindInMap(ELB_LOG_DELIVERY_MAP, Ref("AWS::Region"), ELB_LOG_DELIVERY_KEY)
    t.add_condition(ELB_DELIVERS_AS_SERVICE, Equals(principal, ELB_LOG_DELIVERY_SERVICE))
    bucket = t.add_resource(storage.retained(
        storage.private_bucket(
            "AlbLogsBucket",
            "alb_logs_bucket",
            buckets.LifecycleRule(
                Id="expire-access-logs",
                Status="Enabled",
                ExpirationInDays=Ref(p["alb_logs_expiry_days"]),
                AbortIncompleteMultipartUpload=buckets.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
            ),
            Condition=ALB_ACCESS_LOGS,
            Metadata=checkov_skip(
                ("CKV_AWS_18", "this bucket is itself the access log (of the ALB); logging its reads would need "
                               "a third bucket, and CloudTrail data events audit them"),
                ("CKV_AWS_21", "ELB only adds log files, never rewrites one; versions would only keep expired "
                               "logs past alb_logs_expiry_days"),
            ),
        )
    ))
    delivery_principal = If(
        ELB_DELIVERS_AS_SERVICE,
        {"Service": principal},
        {"AWS": Sub("arn:${AWS::Partition}:iam::${ElbAccount}:root", ElbAccount=principal)},
    )
    elb_delivery = {
        "Sid": "AllowElbLogDelivery",
        "Effect": "Allow",
        "Principal": delivery_principal,
        "Action": "s3:PutObject",
        # ELB writes under AWSLogs/<this account>/ (no prefix configured).
        "Resource": Sub("${AlbLogsBucket.Arn}/AWSLogs/${AWS::AccountId}/*"),
    }
    policy = t.add_resource(
        storage.bucket_policy("AlbLogsBucketPolicy", bucket, elb_delivery, Condition=ALB_ACCESS_LOGS)
    )
    # ELB checks it may write to the bucket when logging is turned on, so the ALB waits for the policy.
    # DependsOn cannot name a conditional resource: this handle's Metadata carries the reference instead.
    return t.add_resource(
        WaitConditionHandle("AccessLogsReady", Metadata={"AlbLogsBucketPolicy": If(ALB_ACCESS_LOGS, Ref(policy), "")})
    )


def _create_load_balancer(
    t: Template, p: dict, alb_sg: ec2.SecurityGroup, access_logs_ready: WaitConditionHandle
) -> elb.LoadBalancer:
    # Deletion protection (alb_deletion_protection): destroy turns it off before it deletes the stack, as it
    # does termination protection.
    return t.add_resource(
        elb.LoadBalancer(
            "LoadBalancer",
            DependsOn=[access_logs_ready.title],
            # A fixed name, so the execution role's listener and WebACL statements name this ALB and no other.
            Name=naming.resource_name_sub("load_balancer"),
            Type="application",
            Scheme="internet-facing",
            Subnets=Split(",", naming.import_value(contract.PUBLIC_SUBNET_IDS)),
            SecurityGroups=[Ref(alb_sg)],
            LoadBalancerAttributes=[
                elb.LoadBalancerAttributes(Key="routing.http.drop_invalid_header_fields.enabled", Value="true"),
                elb.LoadBalancerAttributes(Key="deletion_protection.enabled", Value=Ref(p["alb_deletion_protection"])),
                # Set either way: an attribute left out of the template keeps its last value on update.
                elb.LoadBalancerAttributes(Key="access_logs.s3.enabled", Value=Ref(p["alb_access_logs"])),
                If(
                    ALB_ACCESS_LOGS,
                    elb.LoadBalancerAttributes(Key="access_logs.s3.bucket", Value=Ref("AlbLogsBucket")),
                    Ref("AWS::NoValue"),
                ),
            ],
            Metadata=checkov_skip(
                (
                    "CKV_AWS_91",
                    "access_logs.s3.enabled is the alb_access_logs parameter (on in prod, off in dev), "
                    "a value checkov cannot resolve",
                ),
            ),
        )
    )


def _create_target_group(t: Template) -> elb.TargetGroup:
    return t.add_resource(
        elb.TargetGroup(
            "TargetGroup",
            VpcId=naming.import_value(contract.VPC_ID),
            TargetType="ip",
            Protocol="HTTP",
            Port=contract.CONTAINER_PORT,
            HealthCheckProtocol="HTTP",
            HealthCheckPath="/",
            Matcher=elb.Matcher(HttpCode="200"),
            HealthCheckIntervalSeconds=15,
            HealthCheckTimeoutSeconds=5,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=3,
            TargetGroupAttributes=[
                # The API holds no long requests: 30 s drains it, the 300 s default only slows deploys.
                elb.TargetGroupAttribute(
                    Key="deregistration_delay.timeout_seconds", Value=str(DEREGISTRATION_DELAY_SECONDS)
                ),
            ],
        )
    )


def _create_certificate(t: Template, p: dict):
    """The certificate the HTTPS listener presents: certificate_arn's, or one requested here for domain_name
    and validated by DNS in hosted_zone_id (CloudFormation writes the validation record there and waits until
    ACM issues it; ACM renews it while that record stays)."""
    certificate = t.add_resource(
        acm.Certificate(
            "Certificate",
            Condition=CREATES_CERTIFICATE,
            DomainName=Ref(p["domain_name"]),
            ValidationMethod="DNS",
            DomainValidationOptions=[
                acm.DomainValidationOption(DomainName=Ref(p["domain_name"]), HostedZoneId=Ref(p["hosted_zone_id"]))
            ],
        )
    )
    return If(CREATES_CERTIFICATE, Ref(certificate), Ref(p["certificate_arn"]))


def _create_dns_record(t: Template, p: dict, load_balancer: elb.LoadBalancer) -> None:
    """domain_name -> the ALB, in the zone the certificate was validated in. A only: the ALB is IPv4
    (no dualstack), so an AAAA record would answer nothing. With certificate_arn the name's DNS is the
    operator's (pointed at AlbDnsName)."""
    t.add_resource(
        route53.RecordSetType(
            "ApiDnsRecord",
            Condition=CREATES_CERTIFICATE,
            HostedZoneId=Ref(p["hosted_zone_id"]),
            Name=Ref(p["domain_name"]),
            Type="A",
            # One record, nothing to fail over to: target health would change no answer.
            AliasTarget=route53.AliasTarget(
                DNSName=GetAtt(load_balancer, "DNSName"),
                HostedZoneId=GetAtt(load_balancer, "CanonicalHostedZoneID"),
                EvaluateTargetHealth=False,
            ),
        )
    )


def _add_listeners(
    t: Template, certificate_arn, load_balancer: elb.LoadBalancer, target_group: elb.TargetGroup
) -> WaitConditionHandle:
    forward = elb.Action(Type="forward", TargetGroupArn=Ref(target_group))
    redirect = elb.Action(
        Type="redirect",
        RedirectConfig=elb.RedirectConfig(Protocol="HTTPS", Port=str(HTTPS_PORT), StatusCode="HTTP_301"),
    )
    plain_http_reason = ("port 80 only redirects (301) to HTTPS; it forwards only where a params file says "
                         "allow_plain_http: true (dev), which prod's schema refuses")
    http = t.add_resource(
        elb.Listener(
            "HttpListener",
            LoadBalancerArn=Ref(load_balancer),
            Port=HTTP_PORT,
            Protocol="HTTP",
            DefaultActions=If(SERVES_TLS, [redirect], [forward]),
            Metadata={
                **checkov_skip(("CKV_AWS_2", plain_http_reason)),
                **guard_suppress("ELBV2_LISTENER_PROTOCOL_RULE", "ELBV2_LISTENER_SSL_POLICY_RULE"),
            },
        )
    )
    https = t.add_resource(
        elb.Listener(
            "HttpsListener",
            Condition=SERVES_TLS,
            LoadBalancerArn=Ref(load_balancer),
            Port=HTTPS_PORT,
            Protocol="HTTPS",
            SslPolicy=TLS_POLICY,
            Certificates=[elb.Certificate(CertificateArn=certificate_arn)],
            DefaultActions=[forward],
            ListenerAttributes=[elb.ListenerAttribute(Key=HSTS_ATTRIBUTE, Value=HSTS_VALUE)],
        )
    )
    # DependsOn cannot name a conditional resource, yet the service must wait for
    # whichever listener attaches its target group. References in this handle's
    # Metadata carry the dependency, and Fn::If drops the one that does not exist.
    return t.add_resource(
        WaitConditionHandle(
            "ListenersReady",
            Metadata={
                "HttpListener": Ref(http),
                "HttpsListener": If(SERVES_TLS, Ref(https), ""),
            },
        )
    )


def _create_service(
    t: Template,
    cluster: ecs.Cluster,
    task_definition: ecs.TaskDefinition,
    service_sg: ec2.SecurityGroup,
    target_group: elb.TargetGroup,
    listeners_ready: WaitConditionHandle,
    deployment_alarms: list[cloudwatch.Alarm],
) -> ecs.Service:
    # No DesiredCount: CloudFormation then starts the service at 1 task and never
    # touches the count again, so auto scaling owns it and a template update does
    # not shrink a scaled-out service back to the template's number.
    return t.add_resource(
        ecs.Service(
            "Service",
            DependsOn=["ClusterCapacityProviders", listeners_ready.title],
            ServiceName=naming.resource_name_sub("service"),
            Cluster=Ref(cluster),
            TaskDefinition=Ref(task_definition),
            CapacityProviderStrategy=_capacity_provider_strategy(ecs.CapacityProviderStrategyItem),
            # 100/200: with one task, a lower minimum lets ECS stop it before its replacement is healthy.
            DeploymentConfiguration=ecs.DeploymentConfiguration(
                MinimumHealthyPercent=100,
                MaximumPercent=200,
                DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True, Rollback=True),
                # The circuit breaker catches tasks that fail to start or fail health checks; these alarms
                # catch a release that starts fine but fails its users, and ECS rolls the deployment back.
                Alarms=ecs.DeploymentAlarms(
                    AlarmNames=[Ref(alarm) for alarm in deployment_alarms], Enable=True, Rollback=True
                ),
            ),
            HealthCheckGracePeriodSeconds=HEALTH_CHECK_GRACE_SECONDS,
            NetworkConfiguration=ecs.NetworkConfiguration(
                AwsvpcConfiguration=ecs.AwsvpcConfiguration(
                    Subnets=Split(",", naming.import_value(contract.APP_SUBNET_IDS)),
                    SecurityGroups=[Ref(service_sg)],
                    AssignPublicIp=naming.import_value(contract.APP_ASSIGN_PUBLIC_IP),
                )
            ),
            LoadBalancers=[
                ecs.LoadBalancer(
                    ContainerName=contract.CONTAINER_NAME,
                    ContainerPort=contract.CONTAINER_PORT,
                    TargetGroupArn=Ref(target_group),
                )
            ],
            EnableECSManagedTags=True,
            PropagateTags="SERVICE",
        )
    )


def _add_auto_scaling(
    t: Template,
    p: dict,
    cluster: ecs.Cluster,
    service: ecs.Service,
    load_balancer: elb.LoadBalancer,
    target_group: elb.TargetGroup,
) -> None:
    target = t.add_resource(
        aas.ScalableTarget(
            "ScalableTarget",
            ServiceNamespace="ecs",
            ScalableDimension="ecs:service:DesiredCount",
            ResourceId=Join("/", ["service", Ref(cluster), GetAtt(service, "Name")]),
            MinCapacity=Ref(p["min_capacity"]),
            MaxCapacity=Ref(p["max_capacity"]),
            RoleARN=Sub(AUTOSCALING_ROLE_ARN),
        )
    )
    t.add_resource(
        _target_tracking(
            "ScaleOnCpu",
            target,
            CPU_TARGET_PERCENT,
            aas.PredefinedMetricSpecification(PredefinedMetricType="ECSServiceAverageCPUUtilization"),
        )
    )
    # LoadBalancerFullName/TargetGroupFullName rather than splitting the ARNs:
    # LocalStack, which the deployer tests run against, fails Fn::Split over ELB ARNs.
    t.add_resource(
        _target_tracking(
            "ScaleOnRequests",
            target,
            REQUESTS_PER_TARGET,
            aas.PredefinedMetricSpecification(
                PredefinedMetricType="ALBRequestCountPerTarget",
                ResourceLabel=Join(
                    "/",
                    [GetAtt(load_balancer, "LoadBalancerFullName"), GetAtt(target_group, "TargetGroupFullName")],
                ),
            ),
        )
    )


def _target_tracking(
    title: str, target: aas.ScalableTarget, value: int, metric: aas.PredefinedMetricSpecification
) -> aas.ScalingPolicy:
    return aas.ScalingPolicy(
        title,
        PolicyName=title,
        PolicyType="TargetTrackingScaling",
        ScalingTargetId=Ref(target),
        TargetTrackingScalingPolicyConfiguration=aas.TargetTrackingScalingPolicyConfiguration(
            TargetValue=float(value),
            PredefinedMetricSpecification=metric,
            ScaleInCooldown=SCALE_IN_COOLDOWN,
            ScaleOutCooldown=SCALE_OUT_COOLDOWN,
        ),
    )


def _add_outputs(
    t: Template,
    cluster: ecs.Cluster,
    service: ecs.Service,
    log_group: logs.LogGroup,
    load_balancer: elb.LoadBalancer,
    target_group: elb.TargetGroup,
    topic,
) -> None:
    dns_name = GetAtt(load_balancer, "DNSName")
    outputs = {
        contract.ALB_ARN: (Ref(load_balancer), "ALB ARN (the waf stack associates its WebACL with it)"),
        contract.ALB_DNS_NAME: (dns_name, "Public DNS name of the ALB"),
        contract.API_URL: (
            If(
                SERVES_TLS,
                Sub("https://${DomainName}"),
                Sub("http://${LoadBalancer.DNSName}"),
            ),
            "Base URL of the API",
        ),
        contract.CLUSTER_NAME: (Ref(cluster), "ECS cluster name"),
        contract.SERVICE_NAME: (GetAtt(service, "Name"), "ECS service name"),
        contract.CONTAINER_LOG_GROUP_NAME: (Ref(log_group), "CloudWatch log group of the API container"),
        contract.TARGET_GROUP_ARN: (Ref(target_group), "ALB target group of the API tasks"),
        contract.ALARM_TOPIC_ARN: (Ref(topic), "SNS topic every alarm notifies (the waf stack's too)"),
    }
    naming.add_exports(t, contract.COMPUTE, outputs)
