"""The Textual dashboard: the app (`app`), its screens and widgets, the pure view functions
that turn the monitor's state into what is drawn (`view`, `overview_view`, `rules_view`,
`rules_lines`, `process_view`, `alerts_view`, `spark`, `kiosk`, `actions`), and `term`, the
shadow screen under Textual's output.

It reads the monitor, the rules' statuses and the sources' typed models; widgets only read
views and never call a source. Nothing outside `gputop.ui` (and `gputop.cli`, which starts
it) imports it: an import-linter contract keeps the core, promql, rules and sources free of it.
"""
