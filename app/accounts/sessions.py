"""Server-side sessions: the cookie carries only a random token; what it stands for lives in the
database (or Redis when configured), so a session can be revoked at once.

ServerSessionMiddleware exposes the session as `request.session` (a dict, which Authlib uses for
the OpenID Connect state) and `request.scope["carreau.session"]` (who is signed in)."""

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from http.cookies import SimpleCookie
from typing import Any, Protocol

import anyio
from sqlmodel import Session, col, delete, select
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection

from app.accounts.models import UserSession
from app.core.db import SessionFactory

TOUCH_EVERY = timedelta(seconds=60)  # how stale last_seen may get before it is written again


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class StoredSession:
    user_id: int | None
    data: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str | None = None


class SessionStore(Protocol):
    def load(self, key: str) -> StoredSession | None: ...
    def save(self, key: str, stored: StoredSession, *, create: bool = True) -> None:
        """Write a session. With create=False only an existing one is updated: a session revoked
        while one of its requests was running must stay revoked."""
        ...
    def touch(self, key: str, last_seen_at: datetime) -> None: ...
    def delete(self, key: str) -> None: ...
    def delete_for_user(self, user_id: int, *, keep: str | None = None, within: Session | None = None) -> int:
        """Close every session of a person (but `keep`). A database store joins the transaction of
        `within`, so the sessions go with the change that requires it (erasure, new password)."""
        ...
    def list_for_user(self, user_id: int) -> list[tuple[str, StoredSession]]: ...


class DatabaseSessionStore:
    def __init__(self, factory: SessionFactory) -> None:
        self.factory = factory

    def load(self, key: str) -> StoredSession | None:
        with self.factory() as db:
            row = db.get(UserSession, key)
            if row is None:
                return None
            return StoredSession(row.user_id, dict(row.data), row.created_at, row.last_seen_at, row.expires_at,
                                 row.user_agent)

    def save(self, key: str, stored: StoredSession, *, create: bool = True) -> None:
        with self.factory(write=True) as db:
            row = db.get(UserSession, key)
            if row is None:
                if not create:
                    return
                row = UserSession(token_hash=key, created_at=stored.created_at, last_seen_at=stored.last_seen_at,
                                  expires_at=stored.expires_at)
            row.user_id = stored.user_id
            row.data = stored.data
            row.last_seen_at = stored.last_seen_at
            row.expires_at = stored.expires_at
            row.user_agent = stored.user_agent
            db.add(row)
            db.commit()

    def touch(self, key: str, last_seen_at: datetime) -> None:
        with self.factory(write=True) as db:
            row = db.get(UserSession, key)
            if row is not None:
                row.last_seen_at = last_seen_at
                db.add(row)
                db.commit()

    def delete(self, key: str) -> None:
        with self.factory(write=True) as db:
            db.exec(delete(UserSession).where(col(UserSession.token_hash) == key))
            db.commit()

    def delete_for_user(self, user_id: int, *, keep: str | None = None, within: Session | None = None) -> int:
        query = delete(UserSession).where(col(UserSession.user_id) == user_id)
        if keep:
            query = query.where(col(UserSession.token_hash) != keep)
        if within is not None:
            return int(within.exec(query).rowcount or 0)
        with self.factory(write=True) as db:
            result = db.exec(query)
            db.commit()
            return int(result.rowcount or 0)

    def list_for_user(self, user_id: int) -> list[tuple[str, StoredSession]]:
        with self.factory() as db:
            rows = db.exec(
                select(UserSession).where(UserSession.user_id == user_id).order_by(col(UserSession.last_seen_at).desc())
            )
            return [
                (row.token_hash, StoredSession(row.user_id, {}, row.created_at, row.last_seen_at, row.expires_at,
                                               row.user_agent))
                for row in rows
            ]


class RedisSessionStore:
    """Sessions in Redis: one JSON value per session, a set of session keys per person."""

    def __init__(self, client: Any, *, idle: timedelta, prefix: str = "carreau:") -> None:
        self.redis = client
        self.idle = idle
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}session:{key}"

    def _user_key(self, user_id: int) -> str:
        return f"{self.prefix}user-sessions:{user_id}"

    @staticmethod
    def _dump(stored: StoredSession) -> str:
        return json.dumps({
            "user_id": stored.user_id, "data": stored.data, "created_at": stored.created_at.isoformat(),
            "last_seen_at": stored.last_seen_at.isoformat(), "expires_at": stored.expires_at.isoformat(),
            "user_agent": stored.user_agent,
        })

    @staticmethod
    def _parse(raw: str | bytes) -> StoredSession:
        value = json.loads(raw)
        return StoredSession(
            value["user_id"], value["data"], datetime.fromisoformat(value["created_at"]),
            datetime.fromisoformat(value["last_seen_at"]), datetime.fromisoformat(value["expires_at"]),
            value.get("user_agent"),
        )

    def _ttl(self, stored: StoredSession) -> int:
        remaining = min(stored.expires_at - stored.last_seen_at, self.idle)
        return max(1, int(remaining.total_seconds()) + 60)

    def load(self, key: str) -> StoredSession | None:
        raw = self.redis.get(self._key(key))
        return None if raw is None else self._parse(raw)

    def save(self, key: str, stored: StoredSession, *, create: bool = True) -> None:
        if not create:
            # SET … XX: only if the session still exists (it may have been revoked meanwhile).
            self.redis.set(self._key(key), self._dump(stored), ex=self._ttl(stored), xx=True)
            return
        pipe = self.redis.pipeline()
        pipe.set(self._key(key), self._dump(stored), ex=self._ttl(stored))
        if stored.user_id is not None:
            pipe.sadd(self._user_key(stored.user_id), key)
        pipe.execute()

    def touch(self, key: str, last_seen_at: datetime) -> None:
        stored = self.load(key)
        if stored is not None:
            stored.last_seen_at = last_seen_at
            self.save(key, stored, create=False)

    def delete(self, key: str) -> None:
        stored = self.load(key)
        self.redis.delete(self._key(key))
        if stored is not None and stored.user_id is not None:
            self.redis.srem(self._user_key(stored.user_id), key)

    def delete_for_user(self, user_id: int, *, keep: str | None = None, within: Session | None = None) -> int:
        keys = [k.decode() if isinstance(k, bytes) else k for k in self.redis.smembers(self._user_key(user_id))]
        doomed = [k for k in keys if k != keep]
        if doomed:
            self.redis.delete(*[self._key(k) for k in doomed])
            self.redis.srem(self._user_key(user_id), *doomed)
        return len(doomed)

    def list_for_user(self, user_id: int) -> list[tuple[str, StoredSession]]:
        found = []
        for raw_key in self.redis.smembers(self._user_key(user_id)):
            key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
            stored = self.load(key)
            if stored is not None:
                found.append((key, stored))
        return sorted(found, key=lambda item: item[1].last_seen_at, reverse=True)


@dataclass
class SessionState:
    """What the middleware knows about this request's session; routes change it through
    begin_user_session() and end_session()."""

    token: str | None
    stored: StoredSession | None
    user_id: int | None
    rotate: bool = False
    new_token: str | None = field(default=None)

    @property
    def key(self) -> str | None:
        token = self.new_token or self.token
        return token_hash(token) if token else None


@dataclass(frozen=True)
class SessionPolicy:
    cookie_name: str
    secure: bool
    idle: timedelta
    absolute: timedelta


def cookie_name(secure: bool) -> str:
    # The __Host- prefix makes browsers refuse the cookie unless Secure, Path=/ and no Domain.
    return "__Host-carreau_session" if secure else "carreau_session"


class ServerSessionMiddleware:
    def __init__(self, app: Any, store: SessionStore, policy: SessionPolicy,
                 clock: Callable[[], datetime]) -> None:
        self.app = app
        self.store = store
        self.policy = policy
        self.clock = clock

    def _expired(self, stored: StoredSession, now: datetime) -> bool:
        return now >= stored.expires_at or now - stored.last_seen_at >= self.policy.idle

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        clock = getattr(scope.get("app") and scope["app"].state, "clock", self.clock)
        now = clock()
        token = HTTPConnection(scope).cookies.get(self.policy.cookie_name)
        stored = await anyio.to_thread.run_sync(self.store.load, token_hash(token)) if token else None
        if stored is not None and self._expired(stored, now):
            await anyio.to_thread.run_sync(self.store.delete, token_hash(token or ""))
            stored = None
        data: dict[str, Any] = dict(stored.data) if stored else {}
        original = json.dumps(data, sort_keys=True, default=str)
        state = SessionState(token if stored else None, stored, stored.user_id if stored else None)
        scope["session"] = data
        scope["carreau.session"] = state
        user_agent = dict(scope.get("headers", [])).get(b"user-agent", b"").decode("latin-1")[:200] or None

        async def send_with_session(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                await self._persist(state, data, original, now, headers, user_agent)
            await send(message)

        await self.app(scope, receive, send_with_session)

    async def _persist(self, state: SessionState, data: dict[str, Any], original: str, now: datetime,
                       headers: MutableHeaders, user_agent: str | None) -> None:
        had_cookie = state.token is not None
        if state.rotate and state.token:
            await anyio.to_thread.run_sync(self.store.delete, token_hash(state.token))
            state.token = None
        changed = state.rotate or json.dumps(data, sort_keys=True, default=str) != original
        if state.token is None:
            if not data and state.user_id is None:
                if had_cookie:
                    headers.append("set-cookie", self._cookie("", max_age=0))
                return  # nothing worth a cookie
            state.new_token = secrets.token_urlsafe(32)
            stored = StoredSession(state.user_id, data, now, now, now + self.policy.absolute, user_agent)
            await anyio.to_thread.run_sync(self.store.save, token_hash(state.new_token), stored)
            headers.append("set-cookie", self._cookie(state.new_token))
            return
        assert state.stored is not None
        key = token_hash(state.token)
        if changed:
            state.stored.data = data
            state.stored.user_id = state.user_id
            state.stored.last_seen_at = now
            await anyio.to_thread.run_sync(partial(self.store.save, key, state.stored, create=False))
        elif now - state.stored.last_seen_at >= TOUCH_EVERY:
            await anyio.to_thread.run_sync(self.store.touch, key, now)

    def _cookie(self, value: str, *, max_age: int | None = None) -> str:
        cookie: SimpleCookie = SimpleCookie()
        name = self.policy.cookie_name
        cookie[name] = value
        cookie[name]["path"] = "/"
        cookie[name]["httponly"] = True
        cookie[name]["samesite"] = "Lax"
        if self.policy.secure:
            cookie[name]["secure"] = True
        if max_age is not None:
            cookie[name]["max-age"] = max_age
        return cookie.output(header="").strip()


def session_state(connection: HTTPConnection) -> SessionState:
    return connection.scope["carreau.session"]


def begin_user_session(connection: HTTPConnection, user_id: int) -> None:
    """Sign someone in: a fresh token (no fixation), and nothing carried over from before."""
    state = session_state(connection)
    state.user_id = user_id
    state.rotate = True
    connection.scope["session"].clear()


def end_session(connection: HTTPConnection) -> None:
    """Sign out: the session is destroyed; what is written afterwards (e.g. the provider's logout
    state) goes into a fresh anonymous session."""
    state = session_state(connection)
    state.user_id = None
    state.rotate = True
    connection.scope["session"].clear()


def current_session_key(connection: HTTPConnection) -> str | None:
    return session_state(connection).key
