"""Shared fixtures and helpers live in tests/support/ (no test module imports another); its
modules that hold fixtures or hooks are the plugins listed here."""

pytest_plugins = [
    "tests.support.lanes",
    "tests.support.fake_nvml",
    "tests.support.prometheus_server",
    "tests.support.alertmanager_server",
    "tests.support.guarded",
    "tests.support.cli",
    "tests.support.snapshots",
]
