"""Files made unwritable for tests, whoever runs them. Where that cannot be
done the tests that need it skip, unless ``GRAPHWIRE_REQUIRE_UNWRITABLE_FILES``
is set (scripts/test sets it)."""

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
        why = f"no immutable files here (chattr +i), and we are root: {done.stderr!r}"
        if os.environ.get("GRAPHWIRE_REQUIRE_UNWRITABLE_FILES"):  # scripts/test sets it
            raise RuntimeError(why)
        pytest.skip(why)
    done.check_returncode()
