"""Start LocalStack with one parity fix, for the deployer's integration tests.

Run with LocalStack's own interpreter (.tools/localstack/bin/python this-file).

The fix: AWS hands a ``Number`` parameter to the template as a string ("when
you use the parameter elsewhere in your template, for example with Ref, the
value becomes a string"), so ``!Equals [!Ref NatGateways, '0']`` is true for
nat_gateways=0. LocalStack 2026.3's CloudFormation engine turns it into the
int 0, so that condition is false there and the network stack creates a NAT
gateway it was told not to (which LocalStack then cannot create). Likewise
an empty value ("" for certificate_arn: no HTTPS) is a value on AWS, and
LocalStack takes it for "no value" (``"" or default``), so
``!Equals [!Ref CertificateArn, '']`` fails there. Patching the emulator
back to AWS's behaviour keeps the templates written for AWS.
Nothing of the deployer is changed.
"""

import runpy

from localstack.services.cloudformation.engine.v2 import change_set_model_preproc as preproc

_original = preproc.ChangeSetModelPreproc.visit_node_parameter


def _visit_node_parameter(self, node_parameter):
    delta = _original(self, node_parameter)
    given = self.visit(node_parameter.dynamic_value)
    for side in ("before", "after"):
        value = getattr(delta, side)
        if isinstance(value, int | float) and not isinstance(value, bool):
            setattr(delta, side, str(value))
        elif preproc.is_nothing(value) and getattr(given, side) == "":
            setattr(delta, side, "")  # an empty value given is a value
    return delta


preproc.ChangeSetModelPreproc.visit_node_parameter = _visit_node_parameter

if __name__ == "__main__":
    runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
