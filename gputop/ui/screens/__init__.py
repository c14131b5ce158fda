"""Screens of the dashboard, one per module with its `.tcss`: overview, detail, processes,
fleet, alerts, help, and the confirm and silence dialogs.

Each full screen is a `GpuTopScreen` (typed `app`, `refresh_view`) and may import `gputop.ui`'s
views and widgets. Screens share no constants: one imports another only to open it (the
confirm dialog) or, in the help, to list its bindings; the app opens screens by name.
"""
