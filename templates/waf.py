"""waf stack (placeholder until its module lands)."""

from troposphere import Template

from templates import params


def build() -> Template:
    t = Template(Description="ia-comafi waf")
    params.add_parameters(t, "waf")
    return t
