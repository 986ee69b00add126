"""The architecture as a graph, drawn from the rendered templates: `python generate.py --diagram`.

Each stack is a group of its main resources (glue such as routes, route-table associations and
security-group ingress rules is left out), each export another stack imports (Fn::ImportValue) is
an edge labelled with the export's name, and the request path runs client -> WAF -> ALB -> tasks ->
Bedrock, Redis and the unhandled-queries bucket. ``dot(templates)`` and ``mermaid(templates)`` give
the same graph as Graphviz DOT and Mermaid text; same templates, same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import contract

# Resource types that wire the main ones together; the picture shows what they connect, not them.
GLUE = frozenset({
    "AWS::EC2::Route",
    "AWS::EC2::RouteTable",

    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::CloudFormation::WaitConditionHandle",
    "AWS::S3::BucketPolicy",
    "AWS::ECS::ClusterCapacityProviderAssociations",
    "AWS::WAFv2::WebACLAssociation",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::IAM::ManagedPolicy",
    "AWS::SNS::TopicPolicy",
})
# More resources of one type than this in a stack are drawn as one node ("7 x CloudWatch::Alarm").
MAX_OF_A_KIND = 3

# Outside the stacks: who calls the API, and what the tasks call.
CLIENT = ("client", "client")
BEDROCK = ("bedrock", "Amazon Bedrock")
REDIS = ("redis", "Redis (REDIS_HOST)")


@dataclass(frozen=True)
class Node:
    id: str
    label: str


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""
    request: bool = False  # on the request path


@dataclass(frozen=True)
class Graph:
    clusters: tuple[tuple[str, tuple[Node, ...]], ...]  # stack key -> its nodes, in graph order
    outside: tuple[Node, ...]
    edges: tuple[Edge, ...]


def _node_id(stack: str, logical_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{stack}_{logical_id}")


def _cluster_id(stack: str) -> str:
    return "cluster_" + re.sub(r"[^A-Za-z0-9_]", "_", stack)


def _short_type(type_: str) -> str:
    return type_.removeprefix("AWS::").replace("ElasticLoadBalancingV2::", "ELBv2::")


def _targets(node) -> set[str]:
    """Logical ids a template value points at (Ref and Fn::GetAtt)."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return {node["Ref"]}
        if set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            return {target[0] if isinstance(target, list) else target.split(".")[0]}
        return set().union(set(), *(_targets(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(set(), *(_targets(v) for v in node))
    return set()


def _imports(node) -> set[str]:
    """Export names (without the project prefix) a template value imports."""
    if isinstance(node, dict):
        if set(node) == {"Fn::ImportValue"}:
            sub = node["Fn::ImportValue"]
            text = sub.get("Fn::Sub") if isinstance(sub, dict) else sub
            return {str(text).removeprefix(f"${{{contract.PROJECT_PARAMETER}}}-")}
        return set().union(set(), *(_imports(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(set(), *(_imports(v) for v in node))
    return set()


def build_graph(rendered: dict[str, dict]) -> Graph:
    """The graph of ``rendered``: stack key -> template as a dict (troposphere's JSON, parsed)."""
    clusters, shown = [], {}  # shown: (stack, logical id) -> node id drawing it
    for stack, template in rendered.items():
        resources = template.get("Resources", {})
        by_type: dict[str, list[str]] = {}
        for logical_id, resource in sorted(resources.items()):
            if resource["Type"] not in GLUE:
                by_type.setdefault(resource["Type"], []).append(logical_id)
        nodes = []
        for type_, ids in sorted(by_type.items()):
            if len(ids) > MAX_OF_A_KIND:
                node = Node(_node_id(stack, type_), f"{len(ids)} x {_short_type(type_)}")
                nodes.append(node)
                shown.update({(stack, i): node.id for i in ids})
                continue
            for logical_id in ids:
                condition = resources[logical_id].get("Condition")
                suffix = f" (if {condition})" if condition else ""
                node = Node(_node_id(stack, logical_id), f"{logical_id}{suffix}\\n{_short_type(type_)}")
                nodes.append(node)
                shown[(stack, logical_id)] = node.id
        clusters.append((stack, tuple(sorted(nodes, key=lambda n: n.id))))

    exporters = {}  # export name -> node id of the resource behind it (or the stack's cluster)
    for stack, template in rendered.items():
        for name, output in template.get("Outputs", {}).items():
            if "Export" not in output:
                continue
            behind = sorted(shown[(stack, t)] for t in _targets(output["Value"]) if (stack, t) in shown)
            exporters[name] = behind[0] if behind else _cluster_id(stack)

    edges = set()
    for stack, template in rendered.items():
        for logical_id, resource in template.get("Resources", {}).items():
            importer = shown.get((stack, logical_id)) or _glued_to(stack, resource, shown)
            for name in _imports(resource):
                if name in exporters and importer:
                    edges.add(Edge(exporters[name], importer, name))

    edges |= _request_path(rendered, shown)
    outside = tuple(Node(*n) for n in (CLIENT, BEDROCK, REDIS))
    return Graph(tuple(clusters), outside, tuple(sorted(edges, key=lambda e: (e.source, e.target, e.label))))


def _glued_to(stack: str, resource: dict, shown: dict) -> str | None:
    """The drawn resource a glue resource attaches to (a WebACLAssociation's web ACL), which then stands
    for its imports."""
    drawn = sorted(shown[(stack, t)] for t in _targets(resource) if (stack, t) in shown)
    return drawn[0] if drawn else None


def _first_of(rendered, shown, type_: str) -> str | None:
    for stack, template in rendered.items():
        for logical_id, resource in sorted(template.get("Resources", {}).items()):
            if resource["Type"] == type_ and (stack, logical_id) in shown:
                return shown[(stack, logical_id)]
    return None


def _request_path(rendered, shown) -> set[Edge]:
    waf = _first_of(rendered, shown, "AWS::WAFv2::WebACL")
    alb = _first_of(rendered, shown, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    tasks = _first_of(rendered, shown, "AWS::ECS::Service")
    bucket = shown.get((contract.DATA, contract.UNHANDLED_BUCKET_RESOURCE))
    hops = [(CLIENT[0], waf, "HTTP(S)"), (waf, alb, "allowed requests"), (alb, tasks, "target group"),
            (tasks, BEDROCK[0], "InvokeModel"), (tasks, REDIS[0], "cache"), (tasks, bucket, "unhandled queries")]
    return {Edge(a, b, label, request=True) for a, b, label in hops if a and b}


# -- DOT ---------------------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def dot(rendered: dict[str, dict]) -> str:
    graph = build_graph(rendered)
    out = [
        "digraph architecture {",
        "  graph [rankdir=LR, compound=true, fontname=Helvetica, fontsize=12, nodesep=0.25, ranksep=0.6];",
        "  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=Helvetica, fontsize=10];",
        "  edge [fontname=Helvetica, fontsize=9, color=gray40];",
    ]
    for node in graph.outside:
        out.append(f"  {node.id} [label={_quote(node.label)}, shape=ellipse, fillcolor=lightyellow];")
    for stack, nodes in graph.clusters:
        if not nodes:
            continue
        out.append(f"  subgraph {_cluster_id(stack)} {{")
        out.append(f"    label={_quote(stack + ' stack')}; style=\"rounded,filled\"; fillcolor=gray95;")
        out.extend(f"    {node.id} [label={_quote(node.label)}];" for node in nodes)
        out.append("  }")
    anchors = {_cluster_id(stack): nodes[0].id for stack, nodes in graph.clusters if nodes}
    for edge in graph.edges:
        attrs = [f"label={_quote(edge.label)}"]
        source = edge.source
        if source in anchors:  # an export no single resource stands behind: draw it from the stack's box
            attrs.append(f"ltail={source}")
            source = anchors[source]
        if edge.request:
            attrs += ["color=firebrick", "penwidth=2", "fontcolor=firebrick"]
        else:
            attrs.append("style=dashed")
        out.append(f"  {source} -> {edge.target} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


# -- Mermaid -----------------------------------------------------------------------------------------------


def _mermaid_label(text: str) -> str:
    return '"' + text.replace("\\n", "<br/>").replace('"', "#quot;") + '"'


def mermaid(rendered: dict[str, dict]) -> str:
    graph = build_graph(rendered)
    out = ["flowchart LR"]
    for node in graph.outside:
        out.append(f"  {node.id}([{_mermaid_label(node.label)}])")
    for stack, nodes in graph.clusters:
        if not nodes:
            continue
        out.append(f"  subgraph {_cluster_id(stack)}[{_mermaid_label(stack + ' stack')}]")
        out.extend(f"    {node.id}[{_mermaid_label(node.label)}]" for node in nodes)
        out.append("  end")
    request_links = []
    for index, edge in enumerate(graph.edges):
        arrow = "==>" if edge.request else "-.->"
        out.append(f"  {edge.source} {arrow}|{_mermaid_label(edge.label)}| {edge.target}")
        if edge.request:
            request_links.append(str(index))
    if request_links:
        out.append(f"  linkStyle {','.join(request_links)} stroke:firebrick,stroke-width:2px")
    return "\n".join(out) + "\n"
