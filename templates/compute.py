"""compute stack (placeholder until its module lands)."""

from troposphere import Template

from templates import params


def build() -> Template:
    t = Template(Description="ia-comafi compute")
    params.add_parameters(t, "compute")
    return t
