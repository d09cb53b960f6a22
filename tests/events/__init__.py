"""Tests of ``nephoscope.events``, a module for each of its modules (``test_catalog`` covers the
envelope too); ``test_api`` and ``test_end_to_end`` go through a running server."""
