"""This folder is `lockgate.constructs`. Imported by the bare name `constructs` (Python started in the repository
root puts the root first on sys.path), it hands over to the jsii `constructs` library that CDK needs."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys


def hand_over_to_jsii_constructs(shadow_file: str) -> None:
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(shadow_file)))
    for entry in sys.path:
        if os.path.abspath(entry or os.curdir) == repo_root:
            continue
        spec = importlib.machinery.PathFinder.find_spec("constructs", [entry])
        if spec is not None and spec.loader is not None and spec.origin != os.path.abspath(shadow_file):
            module = importlib.util.module_from_spec(spec)
            sys.modules["constructs"] = module  # the import statement returns what sys.modules holds
            spec.loader.exec_module(module)
            return
    raise ImportError("the jsii 'constructs' library is not installed: pip install -e '.[dev]'")
