"""The CDK app that cdktf.json runs: every lockgate stack."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ai_studio import ENVIRONMENTS, AiStudioStack
from cdktn import App
from demo import DemoStack
from lockgate.constructs import ConstructValidationError


def build(app: App) -> App:
    DemoStack(app, "demo")
    for env in ENVIRONMENTS:
        AiStudioStack(app, env)
    return app


if __name__ == "__main__":
    try:
        build(App()).synth()
    except ConstructValidationError as error:  # it names the construct, the field and the fix: no traceback needed
        sys.exit(f"error: {error}")
