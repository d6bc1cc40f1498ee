"""Watching and steering runs from outside pytest: the web dashboard (`crucible serve`), the
MCP server for agents (`crucible mcp`), instances and runs started or cancelled from outside.

Never imports pytest: a run it starts is a child `python -m pytest --crucible` process.
Starlette, uvicorn and the mcp SDK (the `serve` extra) are imported only when serving.
"""
