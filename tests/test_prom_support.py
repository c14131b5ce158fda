"""The real-Prometheus test helpers: a missing binary skips locally and fails under CI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support import prometheus_server


def test_missing_prometheus_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prometheus_server, "PROMETHEUS", "/nonexistent/prometheus")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="/nonexistent/prometheus not found"):
        prometheus_server.require_prometheus()


def test_missing_prometheus_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prometheus_server, "PROMTOOL", "/nonexistent/promtool")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="/nonexistent/promtool not found"):
        prometheus_server.require_prometheus()


def test_config_scrapes_every_target_each_second(tmp_path: Path) -> None:
    server = prometheus_server.PrometheusServer(
        tmp_path, ["127.0.0.1:1", "127.0.0.1:2"], [tmp_path / "r.yml"]
    )
    config = server.write_config().read_text()

    doc = yaml.safe_load(config)
    assert doc["global"]["scrape_interval"] == "1s"
    assert doc["global"]["evaluation_interval"] == "1s"
    assert doc["rule_files"] == [str(tmp_path / "r.yml")]
    (job,) = doc["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["127.0.0.1:1", "127.0.0.1:2"]}]
