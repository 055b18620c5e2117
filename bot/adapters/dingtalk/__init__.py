"""The DingTalk (钉钉) adapter: robot messages and card presses in over the Stream protocol, the OpenAPI out.

A small Stream client of our own on aiohttp (`stream`), not the dingtalk-stream SDK: see README "DingTalk".
"""
