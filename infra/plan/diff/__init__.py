"""``pog diff``: what changes between two inventories (``pog plan --json``), as ``pulumi preview`` would say.

compare.py matches resources and finds the changes (values.py walks two values, keyed_lists.py names
the items of the lists the stacks declare); text.py, markdown.py and json_report.py render them.
Rendering is deterministic: everything is sorted by key, so the same inputs give the same output.
"""

from infra.plan.diff.compare import align_stacks, diff_inventories, parse_rule_path, triggered_rules
from infra.plan.diff.json_report import render_json
from infra.plan.diff.markdown import render_markdown
from infra.plan.diff.model import Action, Appendix, AppendixBuilder, Diff, PropertyChange, ResourceDiff
from infra.plan.diff.text import render_text, text_lines
from infra.plan.diff.values import format_path, format_value, same

__all__ = [
    "Action",
    "Appendix",
    "AppendixBuilder",
    "Diff",
    "PropertyChange",
    "ResourceDiff",
    "align_stacks",
    "diff_inventories",
    "format_path",
    "format_value",
    "parse_rule_path",
    "render_json",
    "render_markdown",
    "render_text",
    "same",
    "text_lines",
    "triggered_rules",
]
