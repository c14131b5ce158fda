"""Inference servers: detection from metric names, one query per panel for every model, the
serving panel's numbers, and the built-in serving rules."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gputop.cli import build_parser
from gputop.core.models import ServingSample
from gputop.core.store import serving_key
from gputop.rules.servingrules import serving_rules
from gputop.sources.prometheus.serving import (
    ENGINES,
    STAT_LABEL,
    candidate_names,
    detect,
    detect_selector,
    raw_metric,
    serving_queries,
)
from gputop.sources.simvllm import VllmSim
from gputop.ui.widgets.serving_panel import serving_row

REPO = Path(__file__).resolve().parents[1]
PROMTOOL = "/usr/bin/promtool"


def test_engines_are_detected_by_the_names_prometheus_has() -> None:
    names = [
        "DCGM_FI_DEV_GPU_TEMP",
        "vllm:time_to_first_token_seconds_count",
        "vllm:num_requests_waiting",
        "vllm:gpu_cache_usage_perc",  # the old name of the KV-cache gauge
        "tgi_request_duration_count",
        "tgi_queue_size",
    ]
    found = {d.engine.key: d for d in detect(names)}
    assert sorted(found) == ["tgi", "vllm"]
    vllm = found["vllm"]
    assert vllm.name("kv_cache") == "vllm:gpu_cache_usage_perc"
    assert vllm.name("ttft") == "vllm:time_to_first_token_seconds"
    assert vllm.name("tpot") is None and vllm.name("running") is None
    assert found["tgi"].name("ttft") is None  # TGI exports no time to first token
    assert detect(["up", "DCGM_FI_DEV_FB_USED"]) == ()
    # the label API is asked for the table's names only, histograms by their _count
    assert "vllm:time_to_first_token_seconds_count" in candidate_names()
    assert detect_selector().startswith('{__name__=~"') and "sglang:num_queue_reqs" in (
        detect_selector()
    )


def test_one_query_per_panel_for_every_model() -> None:
    (vllm,) = detect(
        n if n.endswith(("total", "perc", "running", "waiting")) else f"{n}_count"
        for n in ENGINES[0].names()
    )
    queries = serving_queries(vllm, 'namespace="inference"')
    assert sorted(queries) == ["e2e", "load", "tpot", "ttft"]
    ttft = queries["ttft"]
    # the three quantiles of every model in one query, as the latency panel writes its own
    for q, stat in (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99")):
        inner = (
            f"histogram_quantile({q}, sum by (le, model_name) (rate("
            'vllm:time_to_first_token_seconds_bucket{namespace="inference"}[5m])))'
        )
        assert f'label_replace({inner}, "{STAT_LABEL}", "{stat}", "", "")' in ttft
    assert ttft.count(" or ") == 2
    load = queries["load"]
    for stat in ("running", "waiting", "kv_cache_pct", "tokens_per_s"):
        assert f'"{STAT_LABEL}", "{stat}"' in load
    assert "100 * max by (model_name) (vllm:kv_cache_usage_perc" in load
    assert raw_metric(vllm) == "vllm:num_requests_running"


def test_triton_is_scaled_to_seconds_and_tgi_has_one_model() -> None:
    every = [n for e in ENGINES for n in e.names()]
    found = {d.engine.key: d for d in detect([*every, *(f"{n}_count" for n in every)])}
    queries = serving_queries(found["triton"])
    assert list(queries) == ["ttft", "load"]  # no TPOT or e2e histogram, no running gauge
    assert "sum by (le, model)" in queries["ttft"] and ") * 0.001" in queries["ttft"]
    tgi = serving_queries(found["tgi"])
    assert "ttft" not in tgi
    assert "sum by (le) (rate(tgi_request_duration_bucket[5m]))" in tgi["e2e"]
    assert "sum (tgi_queue_size)" in tgi["load"]


def test_serving_row_words_the_numbers_of_one_model() -> None:
    sample = ServingSample(
        "vLLM", "llama", 0.0, ttft_p50_s=0.08, ttft_p95_s=0.212, ttft_p99_s=1.25,
        tpot_p95_s=0.038, e2e_p95_s=8.21, running=17, waiting=3, kv_cache_pct=38.0,
    )  # fmt: skip
    row = serving_row(sample, (0.1, None, 0.2), serving_key("vLLM", "llama"))
    assert row.value == "212ms"
    assert row.quantiles == ("p50/p95/p99  TTFT 0.08/0.212/1.25s · TPOT –/38/–ms · E2E –/8.21/–s")
    assert row.load == "running 17 · waiting 3 · KV 38% · n/a tok/s · llama"
    bare = serving_row(ServingSample("TGI", "", 0.0, tokens_per_s=1234.0), (), "k")
    assert bare.value == "n/a" and "TPOT n/a · E2E n/a" in bare.quantiles
    assert bare.load == "running n/a · waiting n/a · KV n/a · 1.2k tok/s"  # one model: unnamed


def test_the_simulated_vllm_server_is_deterministic_and_queues_when_slow() -> None:
    a, b = VllmSim(1000.0, seed=3), VllmSim(1000.0, seed=3)
    a.advance_to(1600.0)
    b.advance_to(1300.0)
    b.advance_to(1600.0)
    assert a.families() == b.families()
    assert a.ttft.counts == b.ttft.counts and sum(a.ttft.counts) > 500
    slow = VllmSim(1000.0, seed=3, scenario="slow")
    slow.advance_to(1600.0)
    waiting = {f[0]: f[3][0][2] for f in slow.families() if f[2] == "gauge"}
    assert waiting["vllm:num_requests_waiting"] > 20  # fewer slots than the load needs
    assert 0.0 <= a.kv_usage <= 1.0


def test_serving_rules_come_from_the_engine_table() -> None:
    doc = yaml.safe_load(serving_rules())
    groups = {g["name"]: [r["alert"] for r in g["rules"]] for g in doc["groups"]}
    assert groups == {
        "gputop-serving-vllm": ["vLLMQueueGrowingThroughputFalling", "vLLMKVCacheNearlyFull"],
        "gputop-serving-sglang": [
            "SGLangQueueGrowingThroughputFalling",
            "SGLangKVCacheNearlyFull",
        ],
        "gputop-serving-tgi": ["TGIQueueGrowingThroughputFalling"],  # no KV-cache gauge
        "gputop-serving-triton": ["TritonQueueGrowingThroughputFalling"],
    }
    vllm = doc["groups"][0]["rules"]
    assert "vllm:num_requests_waiting" in vllm[0]["expr"]
    assert "vllm:kv_cache_usage_perc or vllm:gpu_cache_usage_perc" in vllm[1]["expr"]


def test_rules_serving_command(tmp_path: Path) -> None:
    args = build_parser("rules").parse_args(["rules", "serving", "--engine", "vllm"])
    out = io.StringIO()
    assert args._run(args, out) == 0
    assert [g["name"] for g in yaml.safe_load(out.getvalue())["groups"]] == ["gputop-serving-vllm"]
    done = subprocess.run(
        [sys.executable, "-m", "gputop", "rules", "serving", "--engine", "nope"],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "--engine" in done.stderr


@pytest.mark.skipif(not os.access(PROMTOOL, os.X_OK), reason="promtool not installed")
def test_serving_rules_pass_promtool_and_the_linter(tmp_path: Path) -> None:
    path = tmp_path / "serving.yml"
    path.write_text(serving_rules())
    checked = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lint = subprocess.run(
        [sys.executable, "-m", "gputop", "rules", "check", "--offline", str(path)],
        capture_output=True, text=True, cwd=REPO, check=False,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path)},
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "0 errors, 0 warnings" in lint.stdout
