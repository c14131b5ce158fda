"""Screens of the dashboard, one per module with its `.tcss`: overview, detail, processes,
fleet, alerts, help, and the silence dialog.

Each full screen is a `GpuTopScreen` (`base`: typed `app`, `refresh_view`) and may import
`gputop.ui`'s views, widgets and the confirm dialog. A screen never imports the app or another
screen at run time: it opens another through the app, which names the pages
(`gputop.ui.actions.PAGES`) and imports each when it is first opened.
"""
