"""Firestore export, restore, verify and restore drills: the `pog backup` commands on-call runs.

Only this package touches Firestore outside the game API's repositories. Every command works against
real GCP (managed exports to a bucket, imports and backup restores through the Firestore Admin API) and
against the Firestore emulator (``FIRESTORE_EMULATOR_HOST``), where exports go to a local directory.
"""
