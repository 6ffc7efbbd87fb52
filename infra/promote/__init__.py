"""`pog promote --from dev --to prod`: move a stack to the phase and image digest of the stack before it.

A promotion changes two values of the target stack file: ``pot-of-gold:phase`` (one step at a time,
never past the source) and the digest of ``pot-of-gold:appImage``. Only the digest moves: each stack
pulls from the Artifact Registry repository of its own project, so the target keeps its repository
and the release owner copies the image there by digest (the digest is the same in every registry).

Before anything is written, the target is planned as it is and as it would be (the real program with
the promoted values, no temporary stack file), the two plans are diffed with the `pog diff` engine,
and `pog check` runs on the promoted target. A promotion is refused, with one line saying why, when
it skips a phase, moves the target ahead of the source or down, destroys or replaces data (unless
``--allow-data-loss``), or when the promoted target fails check. ``--write`` edits the target stack
file in place with ruamel.yaml's round-trip mode: every other byte stays as it was.

A package of its own because it uses both ``infra.plan`` (plans, diffs) and ``infra.policy`` (check), and
policy sits above plan: inside either it would close a cycle (pyproject.toml's import-linter layers).
"""
