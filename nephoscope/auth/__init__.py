"""Identity and permission: who a token is, and what its roles may do (docs/keystone.md).

Owns the one seam that maps a token to a principal (``tokens.Authenticator``, and the refusals
``Unauthenticated`` and ``IdentityUnavailable``): API keys (``keys``, an SQLite store the CLI can
change while the server runs) and Keystone tokens (``keystone``: validation with keystoneauth1,
the dashboard's login) side by side, with the caches of validated tokens (``token_cache``:
memory, optionally memcached). Owns what each role may do: every policy rule and its default
(``rules``, oslo.policy, Monasca's names) and the decisions, an operator's file over the
defaults (``policy``: ``Denied`` names the rule). Imports ``nephoscope.tenancy``,
``nephoscope.config`` (its settings classes) and ``nephoscope.sql`` (the metadata database) only.
"""
