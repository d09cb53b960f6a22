"""Helpers shared by test modules (plain functions and data, never fixtures: those live in the
conftest.py files). A test module imports from here, never from another test module."""
