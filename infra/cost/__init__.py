"""What a planned stack costs per month and how many players it holds (``pog cost``, docs/cost.md).

``usage.yaml`` is the usage model (per monthly active player, every figure with its reason), ``prices.yaml``
the dated price table (one line per billed unit, with the page it was read from). ``meters`` turns each
planned resource, with the load of a user count, into quantities of price lines; ``estimate`` prices them
(free tiers applied per line, across the stack) and reports every resource type it cannot price.
"""
