"""`pog`: the one command line of Pot of Gold.

It composes the commands of ``infra`` (plan, diff, promote, check), ``backups`` and ``app.ops``, and is
the only package that imports across them (the import-linter contracts in pyproject.toml hold that).
"""
