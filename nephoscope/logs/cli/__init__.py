"""The log commands: ``nephoscope logs classify`` (``command``, its report in ``report``) and
``nephoscope trace REQ`` (``trace_command``), registered by ``nephoscope.cli``.

May import the processing library (``nephoscope.logs.processing``), typer, rich and httpx (``trace``
asks a running server over HTTP); never the server side (``nephoscope.logs.server``): the commands
run offline. Heavy imports wait inside the commands so ``nephoscope --help`` stays fast.
"""
