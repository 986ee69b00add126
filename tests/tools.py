"""The tests' shared helpers now live in testkit/tools.py (bench/ uses them without importing tests/)."""

from testkit.tools import LOCATIONS, ROOT, TOOLS, free_port, require_tool

__all__ = ["LOCATIONS", "ROOT", "TOOLS", "free_port", "require_tool"]
