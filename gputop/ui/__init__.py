"""The Textual dashboard. Widgets only read views; they never call a source."""
