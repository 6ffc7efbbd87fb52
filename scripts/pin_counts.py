"""Rewrite tests/infra/resource_counts.json from the current program (review the diff before committing)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from infra.plan.runner import plan_stack

counts = {}
for stack in ("dev", "prod"):
    for phase in (1, 2, 3):
        plan, _ = plan_stack(stack, phase)
        counts[f"{stack}@{phase}"] = dict(sorted(Counter(r.type for r in plan.resources).items()))
        print(f"{stack}@{phase}: {len(plan.resources)} resources")
target = Path(__file__).resolve().parent.parent / "tests" / "infra" / "resource_counts.json"
target.write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n")
