"""data stack (placeholder until its module lands)."""

from troposphere import Template

from templates import params


def build() -> Template:
    t = Template(Description="ia-comafi data")
    params.add_parameters(t, "data")
    return t
