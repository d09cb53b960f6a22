"""Alarm definitions, the expression grammar, the evaluator and the alarm state machine."""
