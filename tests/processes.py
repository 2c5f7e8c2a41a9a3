"""Running the service's own programs from tests: their environment, and waiting for them."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

EXECUTABLE = str(Path(sys.executable).with_name("sdk-addressbook"))


def service_environ() -> dict[str, str]:
    """This process's environment without its ``SDK_*`` settings (``SDK_TEST_*`` stay): add the test's own."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SDK_") or k.startswith("SDK_TEST_")}


def wait_until(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Poll ``condition`` every 0.1 s; whether it came true within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False
