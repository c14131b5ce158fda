"""Widgets of the dashboard, one per module: GPU cards and compact lines and their cells, the
rules panel, the latency panel, the fleet table, the status bar, the key bar and the kiosk's
STALE banner.

Widgets draw views handed to them (mostly with Textual's line API, repainting only what
changed); they import `gputop.core` and `gputop.ui`'s view modules, never a screen, the app
or a source.
"""
