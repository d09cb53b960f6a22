"""Alembic's script directory: ``env.py`` and one branch of revisions per owner (``versions``)."""
