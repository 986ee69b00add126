"""The contract is light: reading names, validating params and the deployer's verbs load no troposphere."""

import subprocess
import sys

import pytest

from testkit.tools import ROOT

PROBE = "import sys, {module}; print(sorted(m for m in ('troposphere', 'awacs', 'cfnlint') if m in sys.modules))"


@pytest.mark.parametrize("module", ["contract", "templates", "templates.params", "deployer.cli"])
def test_importing_loads_no_template_library(module):
    done = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]", f"importing {module} loaded {done.stdout.strip()}"


def test_every_output_is_exported_by_one_stack():
    import contract

    names = [name for outputs in contract.EXPORTS.values() for name in outputs]
    assert len(names) == len(set(names))
    assert set(contract.EXPORTS) <= set(contract.BY_KEY)
    for stack in contract.STACKS:
        assert set(stack.depends_on) <= set(contract.EXPORTS), f"{stack.key} imports from a stack with no exports"
