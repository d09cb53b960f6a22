"""OpenStack's wire and text formats shared by the agent and the server; imports nothing of nephoscope.

* ``oslo_log``: the text oslo.log writes (line header, context block, the lines of a logged
  traceback), as regular expression texts for Python ``re`` and for Arrow's RE2 kernels.

Only the standard library may be imported here: the agent (``nephoscope.agent``) uses this package
and must never load the server's modules.
"""
