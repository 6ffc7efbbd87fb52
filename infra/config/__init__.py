"""Typed stack configuration: the only package that reads ``pulumi.Config``.

Every key is validated before any resource is declared (pydantic, one field per key). All problems
are reported at once, each naming the key as Pulumi.<stack>.yaml spells it, the value and the fix,
so one ``pulumi preview`` shows everything to correct.
"""

from infra.config.loader import ConfigError, load, parse
from infra.config.rules import REQUIRED_SECRETS, SECRET_KEYS
from infra.config.settings import LIST_KEYS, PLAIN_KEYS
from infra.config.stack import NAME_PREFIX, NAMESPACE, StackConfig, key, repository_principal_set
from infra.config.values import MAX_ADMIN_RANGES

__all__ = [
    "LIST_KEYS",
    "MAX_ADMIN_RANGES",
    "NAMESPACE",
    "NAME_PREFIX",
    "PLAIN_KEYS",
    "REQUIRED_SECRETS",
    "SECRET_KEYS",
    "ConfigError",
    "StackConfig",
    "key",
    "load",
    "parse",
    "repository_principal_set",
]
