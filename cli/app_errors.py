"""Turn a failed CDK app's stderr into the line(s) a user needs: the error, not 20 lines of jsii traceback."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

_FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+)')
# the constructs' own errors already name the construct path and the field: their class name adds nothing
_QUIET_TYPES = ("lockgate.constructs.errors.ConstructValidationError: ", "ConstructValidationError: ")
_NOISE = "For further information visit "


def app_error(stderr: str, app: str, root: Path) -> str:
    """The error the app reported: its `error: ...` lines, or the last exception of a traceback and where it was
    raised in the user's code; anything else as it came (the app may print its own diagnostics)."""
    lines = stderr.strip().splitlines()
    own = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    if own:
        return "\n".join(own)
    if "Traceback (most recent call last):" not in lines:
        return stderr.strip() or "(it printed nothing on stderr)"
    frames = [(index, match) for index, line in enumerate(lines) if (match := _FRAME.match(line))]
    after = frames[-1][0] + 1 if frames else lines.index("Traceback (most recent call last):") + 1
    exception = [line for line in _without_source_lines(lines[after:]) if not line.strip().startswith(_NOISE)]
    message = "\n".join(exception).strip()
    for prefix in _QUIET_TYPES:
        if message.startswith(prefix):
            return message.removeprefix(prefix)
    user = [m for _, m in frames if _is_users(Path(m["file"]), root)]
    where = f" (at {Path(user[-1]['file']).relative_to(root)}:{user[-1]['line']})" if user else ""
    return f"{message}{where}; run `{app}` to see the whole traceback"


def _without_source_lines(lines: list[str]) -> list[str]:
    """Skip the source line (and its ^^^ marker) printed under the last frame; keep the exception's own lines."""
    for index, line in enumerate(lines):
        if not line.startswith("    "):
            return lines[index:]
    return lines


def _is_users(file: Path, root: Path) -> bool:
    """A file of the user's project: under its root, not an installed package and not lockgate itself."""
    if not file.is_relative_to(root) or "site-packages" in file.parts:
        return False
    return not any(file.is_relative_to(folder) for folder in _lockgate_folders())


def _lockgate_folders() -> list[Path]:
    folders = []
    for name in ("lockgate.sdk", "lockgate.constructs"):
        spec = importlib.util.find_spec(name)  # finds the folder without importing (cdktn) it
        if spec is not None and spec.origin:
            folders.append(Path(spec.origin).parent)
    return folders
