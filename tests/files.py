"""Files made unwritable for tests, whoever runs them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def set_writable(path: Path, writable: bool) -> None:
    """Permissions do not stop root: an immutable file does."""
    if os.geteuid() != 0:
        path.chmod(0o644 if writable else 0o444)
        return
    done = subprocess.run(
        ["chattr", "-i" if writable else "+i", str(path)], check=False, capture_output=True
    )
    if done.returncode and not writable:
        pytest.skip(f"no immutable files here (chattr +i), and we are root: {done.stderr!r}")
    done.check_returncode()
