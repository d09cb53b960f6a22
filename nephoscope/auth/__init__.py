"""Tenants, roles and API keys.

Owns: the key store (``keys``), the one function that maps a token to a principal
(``tokens.Authenticator`` — the seam where Keystone plugs in later) and what each
role may do (``policy``). Imports only ``nephoscope.model``.
"""
