"""The real-engine test helpers: a missing binary skips locally and fails under CI; the
configurations they write."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support import prometheus_server, victoria_server


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


@pytest.mark.parametrize("ci", [None, "true"])
def test_missing_victoria_metrics_skips_or_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    monkeypatch.setattr(victoria_server, "VMALERT", "/nonexistent/vmalert")
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    expected = pytest.skip.Exception if ci is None else pytest.fail.Exception
    with pytest.raises(expected, match=r"/nonexistent/vmalert not found.*'victoria-metrics'"):
        prometheus_server.require_engine("victoriametrics")


def test_victoria_metrics_scrapes_every_target_each_second(tmp_path: Path) -> None:
    server = victoria_server.VictoriaMetricsServer(tmp_path, ["127.0.0.1:1", "127.0.0.1:2"])
    doc = yaml.safe_load(server.write_config().read_text())
    assert doc["global"] == {"scrape_interval": "1s", "scrape_timeout": "1s"}
    (job,) = doc["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["127.0.0.1:1", "127.0.0.1:2"]}]
    assert server.lag_s == 30.0  # its default -search.latencyOffset is kept


def test_backfill_is_sent_in_milliseconds() -> None:
    text = 'up{job="a"} 1 1700000000\nx_total 2.5 1700000001.5\n# EOF\n'
    assert victoria_server.millisecond_text(text) == (
        'up{job="a"} 1 1700000000000\nx_total 2.5 1700000001500\n'
    )
