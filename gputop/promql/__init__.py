"""PromQL without a server: `analysis` splits an alert expression into `<query> <op> <number>`
(with promql-parser), `evaluator` runs the subset that maps to NVML over the local store, and
`vectorops` holds PromQL's binary operators and label matching.

It may import `gputop.core` and promql-parser only: no UI, no sources, no I/O.
"""

from gputop.promql.analysis import (
    Analysis,
    Comparison,
    PromQLSyntaxError,
    Selector,
    analyse,
    compare,
)

__all__ = ["Analysis", "Comparison", "PromQLSyntaxError", "Selector", "analyse", "compare"]
