"""The small pure kernel: sample models, bounded series and the store, units and durations,
series labels, the dcgm-exporter metric catalogue, the injected clock and backoff.

It imports nothing of gputop outside `core`, and none of textual, rich, httpx, pynvml or
promql-parser (an import-linter contract and a test keep it so): every other package may
build on it.
"""
