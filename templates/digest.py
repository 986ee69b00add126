"""The template's digest, recorded on its stack where DescribeStacks returns it (a no-op deploy reads each stack
once).

Why a parameter, with an output that returns it:
- a stack-level tag would reach every taggable resource, so each template change would add a tag update to
  every resource of its change set: noise a change board reads. A parameter no resource references changes
  no resource; the change set shows it among the parameters only;
- the template's Description would put the digest into the body it digests, and would have to be rewritten
  at deploy time (what is deployed would no longer be the golden bytes);
- the output uses the parameter (cfn-lint flags a parameter nothing uses) and shows the digest in the console.
"""

from __future__ import annotations

from troposphere import Output, Parameter, Ref

import contract


def record(template):
    """Declare the digest parameter and its output on ``template`` (every stack's, see templates.STACKS)."""
    digest = template.add_parameter(Parameter(
        contract.TEMPLATE_DIGEST_PARAMETER, Type="String", Default=contract.TEMPLATE_DIGEST_UNRECORDED,
        AllowedPattern=f"[a-f0-9]{{64}}|{contract.TEMPLATE_DIGEST_UNRECORDED}",
        Description="SHA-256 of this template's body, passed by deploy.py (none: deployed otherwise)"))
    template.add_output(Output(contract.TEMPLATE_DIGEST_OUTPUT, Value=Ref(digest),
                               Description="SHA-256 of the template body this stack runs, as deploy.py sent it"))
    return template
