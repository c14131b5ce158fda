"""The Textual dashboard: the app (`app`, assembled from `actions`, `policy` and `polling`), its
screens (`screens/`, on the base `screens/base.py`) and widgets, the pure view functions that
turn the monitor's state into what is drawn (`views/`), `spark`, `kiosk`, the confirm dialog,
and `term`, the shadow screen under Textual's output.

It reads the monitor, the rules' statuses and the sources' typed models, and acts only through
the monitor (`Monitor.silence`, `.expire`, `.signal`); widgets only read views and never call a
source. Only `gputop.commands` (which starts it) imports it: the layers contract keeps every
package below free of it.
"""
