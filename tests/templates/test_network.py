import pytest

import contract
from tests.templates.cfn import created, of_type, outputs


@pytest.fixture()
def network(docs):
    return docs["network"]


def test_two_azs_from_getazs_never_hard_coded(network):
    subnets = of_type(network["Resources"], "AWS::EC2::Subnet")
    assert len(subnets) == 4
    azs = sorted(s["Properties"]["AvailabilityZone"]["Fn::Select"][0] for s in subnets.values())
    assert azs == [0, 0, 1, 1]
    for subnet in subnets.values():
        assert subnet["Properties"]["AvailabilityZone"]["Fn::Select"][1] == {"Fn::GetAZs": ""}
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False


def _routes_to(resources: dict) -> dict[str, dict]:
    return {
        r["Properties"]["RouteTableId"]["Ref"]: r["Properties"]
        for r in of_type(resources, "AWS::EC2::Route").values()
    }


@pytest.mark.parametrize("nat", ["0", "1", "2"])
def test_nat_gateway_variants(network, nat):
    resources = created(network, {"NatGateways": nat})
    nats = of_type(resources, "AWS::EC2::NatGateway")
    routes = _routes_to(resources)
    out = outputs(network, {"NatGateways": nat})
    assert routes["PublicRouteTable"]["GatewayId"] == {"Ref": "InternetGateway"}
    if nat == "0":
        assert nats == {} and of_type(resources, "AWS::EC2::EIP") == {}
        assert set(routes) == {"PublicRouteTable"}, "private subnets have no way out without a NAT"
        assert out["AppSubnetIds"] == out["PublicSubnetIds"]
        assert out["AppAssignPublicIp"] == "ENABLED"
    else:
        assert len(nats) == int(nat) == len(of_type(resources, "AWS::EC2::EIP"))
        assert {n["Properties"]["SubnetId"]["Ref"] for n in nats.values()} <= {"PublicSubnetA", "PublicSubnetB"}
        expected_b = "NatGatewayB" if nat == "2" else "NatGatewayA"
        assert routes["PrivateRouteTableA"]["NatGatewayId"] == {"Ref": "NatGatewayA"}
        assert routes["PrivateRouteTableB"]["NatGatewayId"] == {"Ref": expected_b}
        assert out["AppSubnetIds"] == {"Fn::Join": [",", [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]]}
        assert out["AppAssignPublicIp"] == "DISABLED"


def test_s3_gateway_endpoint_serves_every_route_table(network):
    (endpoint,) = of_type(network["Resources"], "AWS::EC2::VPCEndpoint").values()
    props = endpoint["Properties"]
    assert props["VpcEndpointType"] == "Gateway"
    assert props["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"}
    tables = set(of_type(network["Resources"], "AWS::EC2::RouteTable"))
    assert {ref["Ref"] for ref in props["RouteTableIds"]} == tables


def test_flow_logs_capture_all_traffic_through_a_role_limited_to_their_group(network):
    on = created(network, {"FlowLogs": "true"})
    (flow_log,) = of_type(on, "AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["TrafficType"] == "ALL"
    assert flow_log["Properties"]["ResourceId"] == {"Ref": "Vpc"}
    group = on["FlowLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "FlowLogsRetentionDays"}
    assert group["LogGroupName"] == {"Fn::Sub": "/vpc/${ProjectName}/flow-logs"}
    role = on["FlowLogRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["FlowLogGroup", "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": ["FlowLogGroup", "Arn"]}, ":log-stream:*"]]},
    ]


def test_flow_logs_off_creates_none_of_their_resources(network):
    off = created(network, {"FlowLogs": "false"})
    assert {"FlowLogGroup", "FlowLogRole", "VpcFlowLog"} & set(off) == set()


def test_exports_what_compute_needs(network):
    # (and the template's digest, which every stack records: templates/digest.py)
    assert set(network["Outputs"]) - {contract.TEMPLATE_DIGEST_OUTPUT} == {
        "VpcId", "PublicSubnetIds", "AppSubnetIds", "AppAssignPublicIp"}
