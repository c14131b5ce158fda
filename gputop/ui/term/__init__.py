"""What goes to the terminal: a shadow of its screen, so only changed cells are sent. It
imports Textual's driver and nothing of gputop outside this package.

- `sgr`: cell styles parsed from SGR codes, and the shortest change from one to another.
- `encode`: which runs of a row to write, and the shortest cursor move to them.
- `shadow`: `ShadowScreen`, a model of the terminal's cells fed with Textual's output.
- `driver`: `ShadowDriver`, Textual's Linux driver writing through a `ShadowScreen`.
"""
