"""Helpers the tests share (fixtures and factories, never tests): import them from here, not from a test module."""
