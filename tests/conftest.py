"""Shared fixtures live in tests/support/; each module there is a pytest plugin."""

pytest_plugins = [
    "tests.support.lanes",
    "tests.support.fake_nvml",
    "tests.support.prometheus_server",
    "tests.support.alertmanager_server",
    "tests.support.guarded",
    "tests.support.cli",
    "tests.support.snapshots",
]
