"""Start LocalStack with one parity fix, for the deployer's integration tests.

Run with LocalStack's own interpreter (.tools/localstack/bin/python this-file).

The fix: AWS hands a ``Number`` parameter to the template as a string ("when
you use the parameter elsewhere in your template, for example with Ref, the
value becomes a string"), so ``!Equals [!Ref NatGateways, '0']`` is true for
nat_gateways=0. LocalStack 2026.3's CloudFormation engine turns it into the
int 0, so that condition is false there and the network stack creates a NAT
gateway it was told not to (which LocalStack then cannot create). Likewise
an empty value ("" for certificate_arn: no certificate given) is a value on AWS, and
LocalStack takes it for "no value" (``"" or default``), so
``!Equals [!Ref CertificateArn, '']`` fails there. Patching the emulator
back to AWS's behaviour keeps the templates written for AWS.

A second fix follows from the first: AWS's resource handlers take a property
of a numeric or boolean type from such a string ("5" for an alarm's
Threshold), LocalStack's call its API with the string, and botocore refuses
it. The request's scalars are converted to the types of the API's input shape,
as AWS's handlers do. Nothing of the deployer is changed.
"""

import runpy

from botocore import model as botocore_model
from localstack.services.cloudformation import resource_provider
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

_NUMBERS = {"integer": int, "long": int, "float": float, "double": float}


def _typed(value, shape):
    if isinstance(shape, botocore_model.StructureShape) and isinstance(value, dict):
        return {k: _typed(v, shape.members[k]) if k in shape.members else v for k, v in value.items()}
    if isinstance(shape, botocore_model.ListShape) and isinstance(value, list):
        return [_typed(v, shape.member) for v in value]
    if isinstance(shape, botocore_model.MapShape) and isinstance(value, dict):
        return {k: _typed(v, shape.value) for k, v in value.items()}
    if isinstance(value, str) and shape.type_name in _NUMBERS:
        try:
            return _NUMBERS[shape.type_name](value)
        except ValueError:
            return value
    if isinstance(value, str) and shape.type_name == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


_original_convert = resource_provider.convert_request_kwargs


def _convert_request_kwargs(parameters, input_shape):
    return _typed(_original_convert(parameters, input_shape), input_shape)


resource_provider.convert_request_kwargs = _convert_request_kwargs

if __name__ == "__main__":
    runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
