"""`gputop rules backtest`: alerting rules replayed over an engine's history, as Prometheus'
rule manager would have evaluated them, and gputop's "near firing" scored against them.

- `grid`: the evaluation slots of a group and the range queries that cover them;
- `history`: what an engine answered (range queries, chunked and concurrent) and its gaps;
- `remote`: a Prometheus-compatible engine (retention, its own rules and their offsets,
  recorded series it lacks); `localfeed`: the dashboard's own history as an engine;
- `rewrite`: expressions with recorded series substituted, or another threshold;
- `machine`: the alert state machine (`for`, `keep_firing_for`) per label set;
- `near`: the one seam to gputop's near logic, replayed as the dashboard runs it;
- `replay`: one rule's windows, flaps and near score; `whatif`: changed rules, `--target`;
- `run`: from rules to report; `report`: the results and their JSON; `output`: text, GitHub.

The command line is `gputop.commands.rules_backtest`.
"""
