"""What Slack's errors mean: the Web API and incoming-webhook error codes that retrying cannot fix, each with
its fix, and the NotifyError each failure becomes. No token or webhook URL is ever part of a message."""

from __future__ import annotations

import re
import time
from typing import Any

from alerts.base import NotifyError
from monitor.core.http import retry_after

_CODE = re.compile(r"[a-z_]{1,60}")  # what Slack's error codes look like; anything else is not echoed

# Web API errors that retrying cannot fix, with the fix (https://api.slack.com/methods/chat.postMessage#errors).
_TOKEN = (
    "Slack rejected the bot token ({error}): the app was uninstalled or the token revoked; reinstall the "
    "Slack app and put its Bot User OAuth Token (xoxb-...) in the variable the config references"
)
_PAYLOAD = (
    "Slack refused this message ({error}); retrying it cannot help, later messages are not affected. "
    "This is a bug in channel-monitor's message payload: please report it"
)
PERMANENT = {
    **dict.fromkeys(
        (
            "invalid_auth",
            "not_authed",
            "account_inactive",
            "token_revoked",
            "token_expired",
            "not_allowed_token_type",
            "no_permission",
            "team_access_not_granted",
        ),
        _TOKEN,
    ),
    "missing_scope": "the Slack app lacks the chat:write scope (missing_scope): add it under OAuth & Permissions and reinstall the app",
    "channel_not_found": (
        "Slack finds no channel {channel} (channel_not_found): set channel to the id shown at the "
        "bottom of the channel's details; for a private channel, invite the bot: /invite @channel-monitor"
    ),
    "not_in_channel": "the bot is not in {channel} (not_in_channel): invite it there: /invite @channel-monitor (your app's name)",
    **dict.fromkeys(("is_archived", "channel_is_archived"), "{channel} is archived ({error}): unarchive it or set channel to another one"),
    **dict.fromkeys(
        (
            "restricted_action",
            "restricted_action_read_only_channel",
            "restricted_action_thread_only_channel",
            "restricted_action_non_threadable_channel",
        ),
        "the bot may not post in {channel} ({error}): allow apps to post there or set another channel",
    ),
    **dict.fromkeys(
        (
            "msg_too_long",
            "msg_blocks_too_long",
            "invalid_blocks",
            "invalid_blocks_format",
            "no_text",
            "too_many_attachments",
            "invalid_arguments",
        ),
        _PAYLOAD,
    ),
}
# chat.update cannot change the earlier message (deleted, too old): post a new one instead.
GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
# Incoming webhook bodies (https://api.slack.com/messaging/webhooks#handling_errors); any other 4xx is permanent too.
_HOOK_GONE = (
    "the incoming webhook no longer works ({error}): it was removed or its channel deleted or archived; "
    "add a new incoming webhook to the Slack app and set webhook_url to it"
)
WEBHOOK_PERMANENT = {
    **dict.fromkeys(
        (
            "no_service",
            "channel_not_found",
            "channel_is_archived",
            "team_disabled",
            "invalid_token",
            "no_service_id",
            "no_team",
            "invalid_team",
            "user_not_found",
        ),
        _HOOK_GONE,
    ),
    **dict.fromkeys(
        ("action_prohibited", "posting_to_general_channel_denied"),
        "Slack refused the incoming webhook ({error}): a workspace admin restricted posting to its channel",
    ),
    **dict.fromkeys(("invalid_payload", "too_many_attachments"), _PAYLOAD),
}


def api_error(method: str, status: int, error: str, headers: Any, channel: str | None) -> NotifyError:
    """The NotifyError for a failed Web API call (`error`: Slack's error code, or '' without one)."""
    code = error if _CODE.fullmatch(error) else f"HTTP {status}" if status != 200 else "a body that is not Slack's JSON"
    if status == 429:
        return NotifyError(f"Slack rate-limited {method} (HTTP 429)", retry_after=retry_after_header(headers))
    if error in PERMANENT:
        return NotifyError(PERMANENT[error].format(channel=channel, error=code), permanent=True)
    return NotifyError(f"Slack {method} failed ({code}); will retry")


def webhook_error(status: int, body: str | None, headers: Any) -> NotifyError:
    """The NotifyError for an incoming webhook's answer other than 200."""
    body_text = (body or "").strip()
    code = body_text if _CODE.fullmatch(body_text) else f"HTTP {status}"
    if status == 429:
        return NotifyError("Slack rate-limited the incoming webhook (HTTP 429)", retry_after=retry_after_header(headers))
    if body_text in WEBHOOK_PERMANENT:
        return NotifyError(WEBHOOK_PERMANENT[body_text].format(error=code), permanent=True)
    if 400 <= status < 500:
        return NotifyError(_HOOK_GONE.format(error=code), permanent=True)
    return NotifyError(f"the Slack incoming webhook answered {code}; will retry")


def retry_after_header(headers: Any) -> float | None:
    """Retry-After in seconds from aiohttp's or the SDK's headers (values there are lists); None if absent."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            value = value[0] if isinstance(value, list) and value else value
            return retry_after(value if isinstance(value, str) else None, time.time())
    return None
