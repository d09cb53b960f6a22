"""Tests of the edge agent (nephoscope/agent/)."""
