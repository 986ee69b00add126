"""The contract's names inside a template: ``Fn::Sub`` over the ``ProjectName`` parameter.

Every name is spelled once, in ``contract.py``; this module only turns those
patterns into CloudFormation expressions (exports, imports, resource names).
"""

from troposphere import Export, ImportValue, Output, Sub, Template

import contract

_PROJECT_REF = "${" + contract.PROJECT_PARAMETER + "}"


def export_sub(output: str) -> Sub:
    """The export name of ``output`` inside a template."""
    return Sub(contract.export_name(_PROJECT_REF, output))


def export(output: str):
    """The Export property of an output named ``output``."""
    return Export(export_sub(output))


def add_exports(template: Template, stack: str, outputs: dict[str, tuple]) -> None:
    """Outputs {name: (value, description)}, each exported as "{project}-{name}".

    The names must be exactly the ones the contract says ``stack`` exports.
    """
    if tuple(outputs) != contract.EXPORTS[stack]:
        raise ValueError(f"{stack} exports {tuple(outputs)}, the contract says {contract.EXPORTS[stack]}")
    for name, (value, description) in outputs.items():
        template.add_output(Output(name, Description=description, Value=value, Export=export(name)))


def import_value(output: str) -> ImportValue:
    if output not in {name for names in contract.EXPORTS.values() for name in names}:
        raise ValueError(f"{output} is not an export of the contract")
    return ImportValue(export_sub(output))


def name_sub(suffix: str) -> Sub:
    """"{project}-{suffix}" inside a template (Name tags)."""
    return Sub(f"{_PROJECT_REF}-{suffix}")


def project_stack_name(stack: str) -> str:
    """"${ProjectName}-{stack}", as Fn::Sub text (IAM ARNs of the stacks' resources)."""
    return contract.stack_name(_PROJECT_REF, stack)


def resource_name_sub(kind: str) -> Sub:
    return Sub(resource_name_text(kind))


def resource_name_text(kind: str) -> str:
    """A resource name pattern as Fn::Sub text."""
    return contract.resource_name(kind, _PROJECT_REF, "${AWS::AccountId}", "${AWS::Region}")
