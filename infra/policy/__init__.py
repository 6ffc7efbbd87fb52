"""Policy layer: rules that run offline (``pog check``) and as a CrossGuard pack (this directory).

Rules live in ``rules_*.py`` (one function each, registered with its id, severity, remediation and
Checkov/KICS id); ``check.py`` runs them on a plan, ``pack.py`` adapts them to pulumi-policy.
"""
