"""Import a module of the deployer/engine/ package while deployer/engine.py still exists.

A module named engine.py shadows a directory named engine/ that has no __init__.py, so
``import deployer.engine.drift`` fails until the restructure turns deployer/engine/ into a package. Until then
this loads the file under its final name; afterwards it is a plain import (and this helper can go).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

ENGINE_DIR = Path(__file__).resolve().parents[2] / "deployer" / "engine"


def load(name: str):
    qualified = f"deployer.engine.{name}"
    try:
        return importlib.import_module(qualified)
    except ModuleNotFoundError:
        pass
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, ENGINE_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module
