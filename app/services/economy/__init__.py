"""The economy: the one way currency, items and entitlements change (``GrantService``, a ``Granter``).

- ``grants``: grants and purchases, each one ledger transaction (the service itself);
- ``holds``: grants held for review and the admins' decisions on them;
- ``revocations``: refunds, disputes and refund reversals of a payment;
- ``revocation_share``: what a payment's revocations take back (pure rules);
- ``wallet``: the wallet arithmetic (debt paid first, never below zero);
- ``purchases``, ``requests``, ``audit_trail``, ``shared``: what the above have in common.
"""
