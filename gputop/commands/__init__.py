"""What `gputop` does, one module per command: the top layer, the only one that reads the
configuration and wires sources, rules and the monitor together.

- `rules_check`: `gputop rules check FILE...` (the rule linter's command line).
"""
