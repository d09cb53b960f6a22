"""Identity and permission: who a token is, and what its roles may do.

Owns: the key store (``keys``), the one seam that maps a token to a principal
(``tokens.Authenticator``: API keys today, Keystone tokens beside them) and what each role
may do (``policy``). Imports ``nephoscope.tenancy`` and ``nephoscope.sqlitefile`` only.
"""
