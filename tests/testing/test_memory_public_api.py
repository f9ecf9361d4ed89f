"""The public surface of trio_ws.testing."""

from __future__ import annotations

import trio_ws.testing


def test_all_lists_the_documented_names() -> None:
    """``__all__`` is exactly the documented API; each name exists."""
    assert set(trio_ws.testing.__all__) == {
        "connect",
        "WebSocketTestClient",
        "SpecVersion",
        "ConnectionClosed",
        "ConnectionRejected",
        "AppProtocolError",
        "serve_app",
        "lifespan",
        "LifespanApp",
        "LifespanError",
        "LifespanStartupFailed",
        "LifespanShutdownFailed",
        "LifespanNotSupported",
    }
    for name in trio_ws.testing.__all__:
        assert hasattr(trio_ws.testing, name)


def test_exported_classes_report_the_public_module() -> None:
    """Tracebacks show trio_ws.testing.X rather than a private module."""
    for name in ("WebSocketTestClient", "ConnectionClosed", "ConnectionRejected"):
        assert getattr(trio_ws.testing, name).__module__ == "trio_ws.testing"
    assert trio_ws.testing.AppProtocolError.__module__ == "trio_ws.testing"
    assert trio_ws.testing.connect.__module__ == "trio_ws.testing"


def test_testing_is_not_imported_by_the_library() -> None:
    """``import trio_ws`` does not pull in the test helpers."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(trio_ws.testing.__file__).parents[2]
    code = "import sys, trio_ws; assert 'trio_ws.testing' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)
