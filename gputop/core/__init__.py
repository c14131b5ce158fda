"""The UI-free core: series, models, rules logic. Imports no textual, rich, httpx or pynvml."""
