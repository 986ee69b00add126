"""compute stack: the API on ECS Fargate behind a public ALB, with auto scaling.

Imports the network (VPC, subnets) and data (secret, bucket, ECR repository)
exports; exports the ALB ARN for the waf stack and the names operators need.
"""

from __future__ import annotations

from awacs import bedrock, s3, secretsmanager, sts
from awacs.aws import Allow, ArnLike, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import (
    Equals,
    GetAtt,
    If,
    Join,
    Not,
    Ref,
    Split,
    Sub,
    Template,
    ec2,
    ecs,
    iam,
    logs,
)
from troposphere import applicationautoscaling as aas
from troposphere import elasticloadbalancingv2 as elb
from troposphere.cloudformation import WaitConditionHandle

import contract
from templates import boundary, naming, params
from templates.metadata import checkov_skip

HAS_CERTIFICATE = "HasCertificate"

HTTP_PORT = 80
HTTPS_PORT = 443
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"

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
    t.add_condition(HAS_CERTIFICATE, Not(Equals(Ref(p["certificate_arn"]), "")))
    _add_fargate_size_rules(t, p)
    t.add_rule("DomainNameWithCertificate", {
        "RuleCondition": Not(Equals(Ref(p["certificate_arn"]), "")),
        "Assertions": [{
            "Assert": Not(Equals(Ref(p["domain_name"]), "")),
            "AssertDescription": "CertificateArn needs the DomainName it covers (pointed at the ALB)",
        }],
    })

    log_group = _create_log_group(t, p)
    cluster = _create_cluster(t)
    execution_role = _create_execution_role(t)
    task_role = _create_task_role(t, p)
    task_definition = _create_task_definition(t, p, log_group, execution_role, task_role)

    alb_sg, service_sg = _create_security_groups(t)
    load_balancer = _create_load_balancer(t, alb_sg)
    target_group = _create_target_group(t)
    listeners_ready = _add_listeners(t, p, load_balancer, target_group)

    service = _create_service(t, cluster, task_definition, service_sg, target_group, listeners_ready)
    _add_auto_scaling(t, p, cluster, service, load_balancer, target_group)

    _add_outputs(t, cluster, service, log_group, load_balancer, target_group)
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


def _create_log_group(t: Template, p: dict) -> logs.LogGroup:
    return t.add_resource(
        logs.LogGroup(
            "ContainerLogGroup",
            LogGroupName=naming.resource_name_sub("container_log_group"),
            RetentionInDays=Ref(p["log_retention_days"]),
            Metadata=checkov_skip(
                (
                    "CKV_AWS_158",
                    "CloudWatch Logs encrypts at rest with its own keys; a customer-managed KMS key "
                    "would add cost and key-policy upkeep without narrowing who can read these logs",
                ),
            ),
        )
    )


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


def _create_task_definition(
    t: Template,
    p: dict,
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
        Image=Sub("${Repository}:${ImageTag}", Repository=naming.import_value(contract.REPOSITORY_URI)),
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


def _create_security_groups(t: Template) -> tuple[ec2.SecurityGroup, ec2.SecurityGroup]:
    vpc_id = naming.import_value(contract.VPC_ID)
    # Inline egress on both groups: CloudFormation removes the default allow-all
    # egress rule only when SecurityGroupEgress is given inline.
    service_sg = t.add_resource(
        ec2.SecurityGroup(
            "ServiceSecurityGroup",
            GroupDescription="API tasks: traffic from the ALB only",
            VpcId=vpc_id,
            SecurityGroupEgress=[
                # Bedrock, ECR, Secrets Manager, S3 and LangSmith are on 443, but the
                # external Redis listens on whatever port the secret says.
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=0,
                    ToPort=65535,
                    CidrIp="0.0.0.0/0",
                    Description="AWS APIs and LangSmith over HTTPS, and the external Redis on its own port",
                )
            ],
        )
    )
    alb_sg = t.add_resource(
        ec2.SecurityGroup(
            "LoadBalancerSecurityGroup",
            GroupDescription="Public ALB: HTTP (and HTTPS with a certificate) from anywhere",
            VpcId=vpc_id,
            SecurityGroupIngress=[
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=HTTP_PORT,
                    ToPort=HTTP_PORT,
                    CidrIp="0.0.0.0/0",
                    Description="HTTP from the internet (redirected to HTTPS when a certificate is set)",
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
                    "A public API's load balancer: port 80 must be open to the internet "
                    "(it only redirects to 443 when a certificate is configured); WAF filters the traffic",
                ),
            ),
        )
    )
    t.add_resource(
        ec2.SecurityGroupIngress(
            "LoadBalancerHttpsIngress",
            Condition=HAS_CERTIFICATE,
            GroupId=Ref(alb_sg),
            IpProtocol="tcp",
            FromPort=HTTPS_PORT,
            ToPort=HTTPS_PORT,
            CidrIp="0.0.0.0/0",
            Description="HTTPS from the internet",
        )
    )
    # A separate rule, not inline, because inline it would make the two groups reference each other.
    t.add_resource(
        ec2.SecurityGroupIngress(
            "ServiceIngressFromLoadBalancer",
            GroupId=Ref(service_sg),
            IpProtocol="tcp",
            FromPort=contract.CONTAINER_PORT,
            ToPort=contract.CONTAINER_PORT,
            SourceSecurityGroupId=Ref(alb_sg),
            Description="From the ALB to the API container port",
        )
    )
    return alb_sg, service_sg


def _create_load_balancer(t: Template, alb_sg: ec2.SecurityGroup) -> elb.LoadBalancer:
    # No deletion protection: destroy must be able to delete this stack, the ALB
    # holds no state, and prod stacks carry termination protection instead.
    return t.add_resource(
        elb.LoadBalancer(
            "LoadBalancer",
            Type="application",
            Scheme="internet-facing",
            Subnets=Split(",", naming.import_value(contract.PUBLIC_SUBNET_IDS)),
            SecurityGroups=[Ref(alb_sg)],
            LoadBalancerAttributes=[
                elb.LoadBalancerAttributes(Key="routing.http.drop_invalid_header_fields.enabled", Value="true"),
            ],
            Metadata=checkov_skip(
                (
                    "CKV_AWS_91",
                    "No access-log bucket: WAF metrics and sampled requests plus the container log "
                    "cover the requests; a log bucket with the ELB delivery policy is a later, separate decision",
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


def _add_listeners(
    t: Template, p: dict, load_balancer: elb.LoadBalancer, target_group: elb.TargetGroup
) -> WaitConditionHandle:
    forward = elb.Action(Type="forward", TargetGroupArn=Ref(target_group))
    redirect = elb.Action(
        Type="redirect",
        RedirectConfig=elb.RedirectConfig(Protocol="HTTPS", Port=str(HTTPS_PORT), StatusCode="HTTP_301"),
    )
    http = t.add_resource(
        elb.Listener(
            "HttpListener",
            LoadBalancerArn=Ref(load_balancer),
            Port=HTTP_PORT,
            Protocol="HTTP",
            DefaultActions=If(HAS_CERTIFICATE, [redirect], [forward]),
            Metadata=checkov_skip(
                (
                    "CKV_AWS_2",
                    "HTTP is served only while no certificate_arn is given (the seed's design); "
                    "with a certificate this listener redirects to the HTTPS listener",
                ),
            ),
        )
    )
    https = t.add_resource(
        elb.Listener(
            "HttpsListener",
            Condition=HAS_CERTIFICATE,
            LoadBalancerArn=Ref(load_balancer),
            Port=HTTPS_PORT,
            Protocol="HTTPS",
            SslPolicy=TLS_POLICY,
            Certificates=[elb.Certificate(CertificateArn=Ref(p["certificate_arn"]))],
            DefaultActions=[forward],
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
                "HttpsListener": If(HAS_CERTIFICATE, Ref(https), ""),
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
) -> None:
    dns_name = GetAtt(load_balancer, "DNSName")
    outputs = {
        contract.ALB_ARN: (Ref(load_balancer), "ALB ARN (the waf stack associates its WebACL with it)"),
        contract.ALB_DNS_NAME: (dns_name, "Public DNS name of the ALB"),
        contract.API_URL: (
            If(
                HAS_CERTIFICATE,
                Sub("https://${DomainName}"),
                Sub("http://${LoadBalancer.DNSName}"),
            ),
            "Base URL of the API",
        ),
        contract.CLUSTER_NAME: (Ref(cluster), "ECS cluster name"),
        contract.SERVICE_NAME: (GetAtt(service, "Name"), "ECS service name"),
        contract.CONTAINER_LOG_GROUP_NAME: (Ref(log_group), "CloudWatch log group of the API container"),
        contract.TARGET_GROUP_ARN: (Ref(target_group), "ALB target group of the API tasks"),
    }
    naming.add_exports(t, contract.COMPUTE, outputs)
