"""`/api/auth/*` (web login, logout, who am I) and `GET /api/admin/audit`."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from tickertape.auth.accounts import AccountStore
from tickertape.auth.authenticator import CSRF_HEADER, Authenticator
from tickertape.auth.credentials import digests_match, verify_password
from tickertape.auth.schemas import (
    AuditEntryOut,
    AuditPageOut,
    LoginIn,
    PasswordLogin,
    SessionOut,
    UserOut,
    error_responses,
)
from tickertape.auth.sessions import (
    clear_session_cookie,
    close_session,
    open_session,
    set_session_cookie,
)
from tickertape.services import Services
from tickertape.store.errors import BadRequest
from tickertape.store.types import UserRecord
from tickertape.transport.deps import AdminDep, ServicesDep, StoreDep, UserDep
from tickertape.transport.strict_json import StrictJsonRoute

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", route_class=StrictJsonRoute)

# Attempts per minute. Password guessing is the threat: per username stops a slow attack
# on one account from many addresses, per IP stops one address spraying many accounts.
LOGIN_PER_IP_PER_MINUTE = 30
LOGIN_PER_USERNAME_PER_MINUTE = 10
_BAD_LOGIN = "wrong username, password or token"


def _throttle(services: Services, request: Request, body: LoginIn) -> None:
    limiters = services.login_limiters
    client_ip = request.client.host if request.client else "unknown"
    wait_ms = limiters.by_ip.take(client_ip)
    if wait_ms is None and isinstance(body, PasswordLogin):
        wait_ms = limiters.by_name.take(body.username.lower())
    if wait_ms is not None:
        log.info("login attempts throttled for %s", client_ip)
        raise HTTPException(
            status_code=429,
            detail="too many login attempts",
            headers={"Retry-After": str(max(1, -(-wait_ms // 1000)))},
        )


async def _check_credentials(
    store: AccountStore, auth: Authenticator, body: LoginIn
) -> UserRecord | None:
    if not isinstance(body, PasswordLogin):
        user = await auth.user_for_token(body.token)
    else:
        account = await store.get_user_by_name(body.username)
        # Verified even for an unknown name (against a dummy hash): equal timing.
        ok = await verify_password(account.password_hash if account else None, body.password)
        user = account.record if ok and account and account.disabled_at is None else None
    return user


def _user_out(user: UserRecord) -> UserOut:
    return UserOut(id=user.id, name=user.name, role=user.role)


@router.post(
    "/auth/login",
    responses=error_responses(400, 401, 429, 503),
    summary="Web login: sets an HttpOnly session cookie, returns the CSRF token",
)
async def login(
    body: LoginIn, request: Request, response: Response, services: ServicesDep
) -> SessionOut:
    _throttle(services, request, body)
    store = services.store
    auth = services.authenticator
    user = await _check_credentials(store, auth, body)
    if user is None:
        # The address only: a username field sometimes holds a mistyped password.
        log.info("failed login from %s", request.client.host if request.client else "?")
        raise HTTPException(status_code=401, detail=_BAD_LOGIN)
    if auth.mode == "none":
        # In mode `none` every token is the local user: a cookie would add nothing.
        return SessionOut(user=_user_out(user), csrf_token=None)
    old_cookie = request.cookies.get(auth.cookie_name(request))
    if old_cookie:
        await close_session(store, old_cookie)  # no session fixation: always a fresh id
    session = await open_session(store, user.id)
    set_session_cookie(
        response, auth.cookie_name(request), session.cookie_value, auth.secure_cookie(request)
    )
    await store.add_audit(
        user.id, "login", "password" if isinstance(body, PasswordLogin) else "token"
    )
    return SessionOut(user=_user_out(user), csrf_token=session.csrf_token)


@router.post(
    "/auth/logout",
    status_code=204,
    responses=error_responses(403),
    summary="End the cookie session (idempotent)",
)
async def logout(request: Request, services: ServicesDep) -> Response:
    auth = services.authenticator
    response = Response(status_code=204)
    cookie = request.cookies.get(auth.cookie_name(request))
    session = await auth.session_for_cookie(request)
    if cookie and session is not None:
        # Logout changes state, so a live session needs its CSRF token here too.
        presented = request.headers.get(CSRF_HEADER, "")
        if not presented or not digests_match(presented, session.csrf_hash):
            raise HTTPException(status_code=403, detail="missing or wrong X-CSRF-Token")
        await close_session(services.store, cookie)
    clear_session_cookie(response, auth.cookie_name(request), auth.secure_cookie(request))
    return response


@router.get(
    "/auth/me",
    responses=error_responses(401),
    summary="The caller, and the CSRF token of its cookie session (after a page reload)",
)
async def me(user: UserDep, request: Request, services: ServicesDep) -> SessionOut:
    auth = services.authenticator
    csrf = None
    if "authorization" not in request.headers and auth.mode != "none":
        csrf = auth.csrf_token(request)
    return SessionOut(user=_user_out(user), csrf_token=csrf)


@router.get(
    "/admin/audit",
    responses=error_responses(400, 401, 403),
    summary="The audit log, newest first (admin role only)",
)
async def audit_log(
    admin: AdminDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
) -> AuditPageOut:
    try:
        page = await store.list_audit(limit, cursor or None)
    except BadRequest as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    items = [
        AuditEntryOut(
            id=e.id,
            actor_user_id=e.actor_user_id,
            action=e.action,
            target=e.target,
            created_at=e.created_at.isoformat(),
        )
        for e in page.items
    ]
    return AuditPageOut(items=items, next_cursor=page.next_cursor)
