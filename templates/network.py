"""network: the VPC everything runs in.

Two AZs, a public and a private subnet in each, an internet gateway, 0-2 NAT
gateways (Conditions over the NatGateways parameter), a free S3 gateway
endpoint so unhandled-query writes skip the NAT, and VPC Flow Logs.

With nat_gateways=0 the private subnets have no way out, so the tasks run in
the public subnets with a public IP: the stack exports which subnets the app
uses and whether it assigns public IPs, and compute just follows.
"""

from awacs import logs
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import (
    Equals,
    GetAtt,
    GetAZs,
    If,
    Join,
    Not,
    Ref,
    Select,
    Sub,
    Tags,
    Template,
    ec2,
    iam,
)

import contract
from templates import boundary, naming, params, storage

VPC_CIDR = "10.0.0.0/16"
# One public and one private subnet per AZ; /20 private subnets leave room
# for thousands of task ENIs.
SUBNETS = {
    "A": {"az": 0, "public": "10.0.0.0/24", "private": "10.0.128.0/20"},
    "B": {"az": 1, "public": "10.0.1.0/24", "private": "10.0.144.0/20"},
}


def build() -> Template:
    t = Template(Description="ia-comafi network: VPC, subnets, NAT, S3 endpoint, flow logs")
    p = params.add_parameters(t, contract.NETWORK)
    boundary.add_parameter(t)
    _add_conditions(t, p)
    vpc = t.add_resource(
        ec2.VPC("Vpc", CidrBlock=VPC_CIDR, EnableDnsHostnames=True, EnableDnsSupport=True, Tags=_name_tag("vpc"))
    )
    public_table = _add_public_routing(t, vpc)
    public, private, private_tables = {}, {}, {}
    for az, spec in SUBNETS.items():
        public[az] = _add_subnet(t, vpc, f"PublicSubnet{az}", spec, "public")
        private[az] = _add_subnet(t, vpc, f"PrivateSubnet{az}", spec, "private")
        t.add_resource(ec2.SubnetRouteTableAssociation(
            f"PublicSubnet{az}RouteTableAssociation", SubnetId=Ref(public[az]), RouteTableId=Ref(public_table)))
        private_tables[az] = _add_private_route_table(t, vpc, az, private[az])
    _add_nat_gateways(t, public, private_tables)
    t.add_resource(ec2.VPCEndpoint(
        "S3GatewayEndpoint",
        VpcId=Ref(vpc),
        ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
        VpcEndpointType="Gateway",
        RouteTableIds=[Ref(public_table)] + [Ref(rt) for rt in private_tables.values()],
    ))
    _add_flow_logs(t, p, vpc)
    _add_outputs(t, vpc, public, private)
    return t


def _add_conditions(t: Template, p: dict) -> None:
    nat = Ref(p["nat_gateways"])
    t.add_condition("NoNat", Equals(nat, "0"))
    t.add_condition("HasNat", Not(Equals(nat, "0")))
    t.add_condition("NatPerAz", Equals(nat, "2"))
    t.add_condition("FlowLogsEnabled", Equals(Ref(p["flow_logs"]), "true"))


def _name_tag(suffix: str) -> Tags:
    return Tags(Name=naming.name_sub(suffix))


def _add_public_routing(t: Template, vpc: ec2.VPC) -> ec2.RouteTable:
    gateway = t.add_resource(ec2.InternetGateway("InternetGateway", Tags=_name_tag("igw")))
    attachment = t.add_resource(
        ec2.VPCGatewayAttachment("InternetGatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(gateway))
    )
    table = t.add_resource(ec2.RouteTable("PublicRouteTable", VpcId=Ref(vpc), Tags=_name_tag("public")))
    t.add_resource(ec2.Route(
        "PublicDefaultRoute",
        DependsOn=attachment,
        RouteTableId=Ref(table),
        DestinationCidrBlock="0.0.0.0/0",
        GatewayId=Ref(gateway),
    ))
    return table


def _add_subnet(t: Template, vpc: ec2.VPC, name: str, spec: dict, tier: str) -> ec2.Subnet:
    # Public subnets don't map public IPs: only the ALB and NAT live there by
    # default, and with nat_gateways=0 ECS assigns the tasks' IPs explicitly.
    return t.add_resource(ec2.Subnet(
        name,
        VpcId=Ref(vpc),
        CidrBlock=spec[tier],
        AvailabilityZone=Select(spec["az"], GetAZs("")),
        MapPublicIpOnLaunch=False,
        Tags=_name_tag(f"{tier}-{name[-1].lower()}"),
    ))


def _add_private_route_table(t: Template, vpc: ec2.VPC, az: str, subnet: ec2.Subnet) -> ec2.RouteTable:
    table = t.add_resource(ec2.RouteTable(f"PrivateRouteTable{az}", VpcId=Ref(vpc), Tags=_name_tag(f"private-{az}")))
    t.add_resource(ec2.SubnetRouteTableAssociation(
        f"PrivateSubnet{az}RouteTableAssociation", SubnetId=Ref(subnet), RouteTableId=Ref(table)))
    return table


def _add_nat_gateways(t: Template, public: dict, private_tables: dict) -> None:
    """NAT A serves both private tables with one NAT; with two, B gets its own."""
    nats = {}
    for az, condition in (("A", "HasNat"), ("B", "NatPerAz")):
        eip = t.add_resource(ec2.EIP(f"NatEip{az}", Condition=condition, Domain="vpc", Tags=_name_tag(f"nat-{az}")))
        nats[az] = t.add_resource(ec2.NatGateway(
            f"NatGateway{az}",
            Condition=condition,
            AllocationId=GetAtt(eip, "AllocationId"),
            SubnetId=Ref(public[az]),
            Tags=_name_tag(f"nat-{az}"),
        ))
    t.add_resource(ec2.Route(
        "PrivateDefaultRouteA", Condition="HasNat", RouteTableId=Ref(private_tables["A"]),
        DestinationCidrBlock="0.0.0.0/0", NatGatewayId=Ref(nats["A"]),
    ))
    t.add_resource(ec2.Route(
        "PrivateDefaultRouteB", Condition="HasNat", RouteTableId=Ref(private_tables["B"]),
        DestinationCidrBlock="0.0.0.0/0", NatGatewayId=If("NatPerAz", Ref(nats["B"]), Ref(nats["A"])),
    ))


def _add_flow_logs(t: Template, p: dict, vpc: ec2.VPC) -> None:
    group = t.add_resource(storage.log_group(
        "FlowLogGroup", "flow_log_group", Ref(p["flow_logs_retention_days"]), Condition="FlowLogsEnabled",
    ))
    group_arn = GetAtt(group, "Arn")
    role = t.add_resource(iam.Role(
        "FlowLogRole",
        Condition="FlowLogsEnabled",
        RoleName=naming.resource_name_sub("flow_log_role"),
        PermissionsBoundary=boundary.role_boundary(),
        AssumeRolePolicyDocument=PolicyDocument(Statement=[Statement(
            Effect=Allow,
            Principal=Principal("Service", "vpc-flow-logs.amazonaws.com"),
            Action=[AssumeRole],
            Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))),
        )]),
        Policies=[iam.Policy(PolicyName="write-flow-logs", PolicyDocument=PolicyDocument(
            Version="2012-10-17", Statement=[
            Statement(
                Effect=Allow,
                Action=[logs.CreateLogStream, logs.PutLogEvents, logs.DescribeLogStreams],
                Resource=[group_arn, Join("", [group_arn, ":log-stream:*"])],
            ),
        ]))],
    ))
    t.add_resource(ec2.FlowLog(
        "VpcFlowLog",
        Condition="FlowLogsEnabled",
        ResourceId=Ref(vpc),
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="cloud-watch-logs",
        LogGroupName=Ref(group),
        DeliverLogsPermissionArn=GetAtt(role, "Arn"),
    ))


def _add_outputs(t: Template, vpc: ec2.VPC, public: dict, private: dict) -> None:
    public_ids = Join(",", [Ref(s) for s in public.values()])
    private_ids = Join(",", [Ref(s) for s in private.values()])
    outputs = {
        contract.VPC_ID: (Ref(vpc), "The VPC"),
        contract.PUBLIC_SUBNET_IDS: (public_ids, "Public subnets (the ALB), comma-separated"),
        contract.APP_SUBNET_IDS: (If("NoNat", public_ids, private_ids), "Subnets the tasks run in, comma-separated"),
        contract.APP_ASSIGN_PUBLIC_IP: (If("NoNat", "ENABLED", "DISABLED"), "Whether tasks need a public IP (no NAT)"),
    }
    naming.add_exports(t, contract.NETWORK, outputs)
