"""`gputop rules check --prometheus URL` against the real Prometheus of the tests.

Prometheus scrapes the simulated dcgm-exporter and a small application exporter whose
metric types only the server knows (its `/api/v1/metadata`), so the type checks are seen to
come from the server, not the catalogue.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gputop.commands.rules_check import main
from gputop.rules.lint import check_files
from tests.support.prometheus_server import (
    PrometheusServer,
    free_port,
    require_prometheus,
    start_prometheus,
    start_sim_exporter,
)

pytestmark = pytest.mark.prometheus

#: Prometheus scraping the sim exporter and an application's exporter, and the node's name.
Server = tuple[PrometheusServer, str]

_APP_METRICS = b"""\
# HELP app_inflight_requests Requests being served now.
# TYPE app_inflight_requests gauge
app_inflight_requests{route="/generate"} 3
# HELP app_errors_total Requests that failed.
# TYPE app_errors_total counter
app_errors_total{route="/generate"} 5
# HELP DCGM_FI_DEV_FB_TOTAL Framebuffer memory total (in MiB).
# TYPE DCGM_FI_DEV_FB_TOTAL gauge
DCGM_FI_DEV_FB_TOTAL{gpu="0"} 81920
# HELP DCGM_FI_DEV_PSTATE A counter family whose series are named otherwise.
# TYPE DCGM_FI_DEV_PSTATE counter
DCGM_FI_DEV_PSTATE_total{gpu="0"} 3
"""
# Rule groups the server evaluates, each at its own interval.
_SERVER_RULES = """\
groups:
  - name: gpu-slow
    interval: 2m
    rules:
      - alert: Slow
        expr: vector(1) < 0
"""


class _AppExporter(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(_APP_METRICS)))
        self.end_headers()
        self.wfile.write(_APP_METRICS)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Prometheus scraping the sim exporter (one node) and the app exporter; and the node."""
    require_prometheus()
    port = free_port()
    app = http.server.ThreadingHTTPServer(("127.0.0.1", port), _AppExporter)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    sim = start_sim_exporter(nodes=1, gpus=2)
    prometheus = None
    try:
        workdir = tmp_path_factory.mktemp("live")
        rules = workdir / "server-rules.yml"
        rules.write_text(_SERVER_RULES, encoding="utf-8")
        targets = [*sim.targets, f"127.0.0.1:{port}"]
        prometheus = start_prometheus(workdir, targets, rule_files=[rules])
        yield prometheus, sim.hosts[0]
    finally:
        if prometheus is not None:
            prometheus.stop()
        sim.stop()
        app.shutdown()
        app.server_close()


def wait_for_metadata(prometheus: PrometheusServer, name: str, timeout_s: float = 30.0) -> None:
    """Until the server's metadata lists `name` (it is read from the targets' scrapes)."""
    import json
    import time
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        url = f"{prometheus.url}/api/v1/metadata?metric={name}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            if json.load(answer)["data"].get(name):
                return
        time.sleep(0.2)
    raise AssertionError(f"{name} never appeared in the metadata")


def _rules(tmp_path: Path, host: str, uuid1: str) -> Path:
    path = tmp_path / "live.yml"
    path.write_text(
        f"""\
groups:
  - name: live
    rules:
      - alert: WrongNode
        expr: DCGM_FI_DEV_GPU_TEMP{{gpu="0", Hostname="no-such-node"}} > 85
      - alert: NotScraped
        expr: node_load1 > 4
      - alert: InflightRising
        expr: rate(app_inflight_requests[5m]) > 1
      - alert: ErrorsSeen
        expr: app_errors_total > 3
      - alert: NeverTogether
        expr: DCGM_FI_DEV_GPU_TEMP{{gpu="0", UUID="{uuid1}"}} > 85
      - alert: Fine
        expr: |
          DCGM_FI_DEV_GPU_TEMP{{Hostname="{host}"}} > 85
          unless on (gpu) absent(DCGM_FI_DEV_POWER_USAGE{{gpu="7"}})
      - record: job:errors:rate5m
        expr: sum(rate(app_errors_total[5m]))
      - alert: OnARecord
        expr: job:errors:rate5m > 1
      - alert: ExportedHereThoughNotByDefault
        expr: DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_TOTAL > 0.9
""",
        encoding="utf-8",
    )
    return path


def test_selectors_without_series_and_types_from_the_server(server: Server, tmp_path: Path) -> None:
    prometheus, host = server
    uuid1 = prometheus.query('DCGM_FI_DEV_GPU_TEMP{gpu="1"}')[0]["metric"]["UUID"]
    path = _rules(tmp_path, host, uuid1)
    report = check_files([str(path)], prometheus=prometheus.url)
    found = {(f.line, f.col, f.check): f.message for f in report.findings}
    url = prometheus.url
    assert set(found) == {
        (5, 45, "no-series"),
        (7, 15, "no-series"),
        (9, 20, "rate-of-gauge"),
        (11, 15, "raw-counter"),
        (13, 15, "no-series"),
    }, found
    assert found[5, 45, "no-series"] == (
        f'Hostname="no-such-node" leaves no series of DCGM_FI_DEV_GPU_TEMP on {url}: '
        f'its series have Hostname="{host}"'
    )
    assert found[7, 15, "no-series"].startswith(f"no series of node_load1 on {url}")
    assert "a gauge" in found[9, 20, "rate-of-gauge"]
    assert found[11, 15, "raw-counter"].startswith("app_errors_total is a counter, compared raw")
    assert found[13, 15, "no-series"] == (
        f'no series of DCGM_FI_DEV_GPU_TEMP match {{gpu="0", UUID="{uuid1}"}} together on {url}'
    )
    assert report.prometheus == url and report.exit_code == 1


def test_without_the_server_the_same_file_has_no_type_or_series_findings(
    server: Server, tmp_path: Path
) -> None:
    _, host = server
    path = _rules(tmp_path, host, "GPU-x")
    checks = {(f.line, f.check) for f in check_files([str(path)]).findings}
    # app_* are unknown to the catalogue; FB_TOTAL is not exported by default
    assert checks == {(23, "default-export")}


def test_the_cli_names_the_server_and_exits_1(
    server: Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("GPUTOP_PROMETHEUS_URL", raising=False)
    monkeypatch.delenv("GPUTOP_CONFIG", raising=False)
    prometheus, host = server
    path = _rules(tmp_path, host, "GPU-x")
    assert main(["--prometheus", prometheus.url, "--format", "github", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith(f"::warning file={path},line=7,col=15,title=no-series::") for line in out
    )


async def test_one_query_per_distinct_selector(server: Server) -> None:
    from gputop.promql.analysis import analyse
    from gputop.rules.live import check_live
    from gputop.sources.prometheus import PrometheusClient

    prometheus, _ = server
    selectors = [
        *analyse('DCGM_FI_DEV_GPU_TEMP{gpu="0"} > DCGM_FI_DEV_GPU_TEMP{gpu="0"} + 1').selectors,
        *analyse("rate(app_errors_total[5m]) > 0 and app_errors_total > 0").selectors,
    ]
    async with PrometheusClient(prometheus.url) as client:
        result = await check_live(client, selectors)
        # the metadata, the rule groups, then one per distinct selector
        assert client.stats.requests == 2 + 2
    assert result.unchecked == 0 and len(result.probes) == 2
    assert result.types["app_errors_total"] == "counter"
    assert result.present == {"DCGM_FI_DEV_GPU_TEMP", "app_errors_total"}


def test_a_server_type_counts_only_for_names_it_has_series_of(
    server: Server, tmp_path: Path
) -> None:
    prometheus, _ = server
    path = tmp_path / "types.yml"
    path.write_text(
        "groups:\n  - name: types\n    rules:\n"
        "      - alert: PStateChanging\n        expr: increase(DCGM_FI_DEV_PSTATE[5m]) > 0\n"
        "      - alert: ErrorsRising\n        expr: rate(app_errors_total[5m]) > 1\n",
        encoding="utf-8",
    )
    wait_for_metadata(prometheus, "DCGM_FI_DEV_PSTATE")
    report = check_files([str(path)], prometheus=prometheus.url)
    found = {(f.line, f.check) for f in report.findings}
    # the family typed counter has no series named DCGM_FI_DEV_PSTATE: the catalogue's gauge
    # counts, and the name the catalogue faults (not exported by default) gets no no-series
    assert found == {(5, "default-export"), (5, "rate-of-gauge")}, report.findings


def test_one_finding_per_name_against_a_server(server: Server, tmp_path: Path) -> None:
    prometheus, _ = server
    path = tmp_path / "names.yml"
    path.write_text(
        "groups:\n  - name: names\n    rules:\n      - alert: Hot\n        expr: |\n"
        "          DCGM_FI_DEV_GPU_TEMPERATURE > 85\n"
        '          or DCGM_FI_DEV_GPU_TEMPERATURE{gpu="1"} > 80\n',
        encoding="utf-8",
    )
    report = check_files([str(path)], prometheus=prometheus.url)
    assert [(f.line, f.check) for f in report.findings] == [(6, "unknown-metric")]


def test_the_interval_the_server_evaluates_a_group_at(server: Server, tmp_path: Path) -> None:
    prometheus, _ = server
    path = tmp_path / "groups.yml"
    path.write_text(
        "groups:\n"
        "  - name: gpu-slow\n    rules:\n"
        "      - alert: A\n        expr: DCGM_FI_DEV_GPU_TEMP > 85\n        for: 1m\n"
        "  - name: not-on-the-server\n    rules:\n"
        "      - alert: B\n        expr: DCGM_FI_DEV_GPU_TEMP > 85\n        for: 1m\n",
        encoding="utf-8",
    )
    report = check_files([str(path)], prometheus=prometheus.url, eval_interval_s=30.0)
    found = [(f.line, f.check, f.message) for f in report.findings]
    assert [(line, check) for line, check, _ in found] == [(6, "for-interval")]
    assert f"(2m, as {prometheus.url} evaluates it)" in found[0][2]
    offline = check_files([str(path)], eval_interval_s=30.0)
    assert [f.check for f in offline.findings] == []  # 1m is longer than 30 s


def test_what_is_not_checked_by_the_deadline_is_said(server: Server, tmp_path: Path) -> None:
    prometheus, host = server
    path = _rules(tmp_path, host, "GPU-x")
    report = check_files([str(path)], prometheus=prometheus.url, deadline_s=1e-9)
    last = report.findings[-1]
    assert last.place == prometheus.url and last.severity == "error"
    assert last.message.endswith("not checked against Prometheus: not all answered within 1e-09 s")
