"""The embedded broker's password check, fast enough for a booting fleet.

amqtt's FileAuthPlugin verifies an argon2 hash at every CONNECT: ~0.1–0.7 s of CPU on the
broker's event loop each, so a few hundred charge points (all the same user) connecting at
once would stall the broker for minutes. A successful check is remembered for the process's
lifetime as a keyed digest of the password (never the password itself); a changed password
file needs a broker restart, as with amqtt's own plugin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from amqtt.plugins.authentication import FileAuthPlugin
from amqtt.session import Session


class CachedFileAuthPlugin(FileAuthPlugin):
    _key = secrets.token_bytes(32)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._verified: set[tuple[str, bytes]] = set()

    def _digest(self, password: str | None) -> bytes:
        return hmac.new(self._key, (password or "").encode(), hashlib.sha256).digest()

    async def authenticate(self, *, session: Session) -> bool | None:
        if session and session.username and (session.username, self._digest(session.password)) in self._verified:
            return True
        result = await super().authenticate(session=session)
        if result and session and session.username:
            self._verified.add((session.username, self._digest(session.password)))
        return result
