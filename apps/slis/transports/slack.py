"""Slack-compatible incoming webhook: a `text` message with a link to the alert."""

from __future__ import annotations

import json
from typing import Any

from apps.slis.transports import Transport
from apps.slis.transports.http import http_post


class SlackTransport(Transport):
    def send(self, channel: Any, payload: dict[str, Any]) -> int:
        emoji = ":red_circle:" if payload.get("state") == "firing" else ":large_green_circle:"
        text = f"{emoji} *{payload.get('state', '')}* {payload.get('message', '')} <{payload.get('url', '')}|open>"
        return http_post(channel.target, json.dumps({"text": text}).encode(), {})
