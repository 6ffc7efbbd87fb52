"""The steps of the GitHub workflows (.github/workflows/) that are more than a command or two.

Each module runs with the Python standard library only: some jobs call them with the runner's own
``python3`` (no virtualenv set up), as ``python3 -m scripts.ci.NAME`` from the repository root. Tests:
tests/scripts/ci/.
"""
