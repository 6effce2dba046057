"""Webhooks: an integrator's URL receives the events of the trades its owner is party to."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Path
from sqlmodel import func, select

from api.deps import CurrentTrader, PlatformDep
from api.errors import Conflict, NotFound
from api.models import Webhook
from api.schemas import WebhookIn, WebhookOut

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
MAX_WEBHOOKS = 10


@router.post("", response_model=WebhookOut, status_code=201)
def register(body: WebhookIn, caller: CurrentTrader, platform: PlatformDep) -> WebhookOut:
    """Registers a URL. Each delivery is a POST of JSON with `X-Orrange-Signature:
    sha256=<hex HMAC-SHA256 of "<X-Orrange-Timestamp>.<body>" keyed by the secret>`;
    the secret is returned once, here."""

    def work(session, _changes):
        count = session.exec(select(func.count()).select_from(Webhook).where(Webhook.owner == caller.address)).one()
        if count >= MAX_WEBHOOKS:
            raise Conflict(f"an address may register at most {MAX_WEBHOOKS} webhooks; delete one first")
        hook = Webhook(owner=caller.address, url=body.url, secret=secrets.token_hex(32), created_at=int(time.time()))
        session.add(hook)
        session.flush()
        return hook

    hook = platform.write(work)
    return WebhookOut(id=hook.id, url=hook.url, secret=hook.secret, created_at=hook.created_at)


@router.get("", response_model=list[WebhookOut])
def list_webhooks(caller: CurrentTrader, platform: PlatformDep) -> list[WebhookOut]:
    with platform.read() as session:
        hooks = session.exec(select(Webhook).where(Webhook.owner == caller.address).order_by(Webhook.id))
        return [WebhookOut(id=hook.id, url=hook.url, created_at=hook.created_at) for hook in hooks]


@router.delete("/{webhook_id}", status_code=204)
def delete(webhook_id: Annotated[int, Path(ge=1, le=2**62)], caller: CurrentTrader, platform: PlatformDep) -> None:
    def work(session, _changes):
        hook = session.get(Webhook, webhook_id)
        if hook is None or hook.owner != caller.address:
            raise NotFound(f"you have no webhook {webhook_id}")
        session.delete(hook)

    platform.write(work)
