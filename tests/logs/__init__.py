"""Tests of the log domain (nephoscope/logs/): the processing library, the server side (API) and the commands."""
