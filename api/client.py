"""A trader's client of the platform's HTTP API, for the `orrange` trader commands and
`orrange demo`: Sign-In with Ethereum with the trader's wallet, signed orders, takes, and each
step of a trade: the seller's lock sent from their own account, and the gasless relays (the
wallet signs, the platform's relayer sends). Every refusal is a `ClientError` with the API's
sentence."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Collection
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from api.lifecycle import TradeStatus
from indexer.errors import OrrangeError

if TYPE_CHECKING:
    from api.signing import Order
    from api.wallet import Wallet

LOGIN_STATEMENT = "Sign in to Orrange."
_EXPIRY_MARGIN = 300  # seconds: a kept access token this close to its expiry is refreshed first


class ClientError(OrrangeError):
    """The API refused a request (`status_code`), could not be reached, or a trade did not get
    where asked."""

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class SessionStore:
    """Login tokens by API and address in a JSON file that only its owner can read, so that
    one login (one signature) serves every command until its refresh token expires (30 days)."""

    def __init__(self, path: Path):
        self.path = path

    def get(self, api_url: str, address: str) -> dict | None:
        return self._read().get(self._key(api_url, address))

    def put(self, api_url: str, address: str, tokens: dict) -> None:
        sessions = self._read()
        sessions[self._key(api_url, address)] = {"access_token": tokens["access_token"],
                                                 "refresh_token": tokens["refresh_token"]}
        self._write(sessions)

    def drop(self, api_url: str, address: str) -> None:
        sessions = self._read()
        if sessions.pop(self._key(api_url, address), None) is not None:
            self._write(sessions)

    @staticmethod
    def _key(api_url: str, address: str) -> str:
        return f"{api_url.rstrip('/')} {address}"

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            return {}  # a damaged file only costs a new login

    def _write(self, sessions: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(sessions, file, indent=1)
        temporary.replace(self.path)


class Client:
    """One trader (a wallet, or none for public reads) at one platform."""

    def __init__(self, api_url: str, wallet: Wallet | None = None, sessions: SessionStore | None = None,
                 timeout: float = 30.0):
        self.api_url = api_url.rstrip("/")
        self.wallet, self.sessions = wallet, sessions
        self.http = httpx.Client(base_url=self.api_url, timeout=timeout)
        self._tokens: dict | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()
        if self.wallet is not None:
            self.wallet.close()

    # --- public reads ---------------------------------------------------------------------

    @cached_property
    def market(self) -> dict:
        """The chain, the escrow, its tokens and the fiat currencies (`GET /market`)."""
        return self.call("GET", "/market")

    def token(self, name: str) -> dict:
        """A token the platform trades, by symbol (any case) or address."""
        for token in self.market["tokens"]:
            if name.lower() in (token["symbol"].lower(), token["address"].lower()):
                return token
        traded = ", ".join(token["symbol"] for token in self.market["tokens"])
        raise ClientError(f"the platform trades no token {name!r}; it trades {traded}")

    def token_at(self, address: str) -> dict:
        return next((t for t in self.market["tokens"] if t["address"].lower() == address.lower()),
                    {"symbol": address, "address": address, "decimals": 0})

    def call(self, method: str, path: str, **kwargs):
        """A request to the API; its JSON answer, or a ClientError with the API's sentence."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise ClientError(f"nothing answers at {self.api_url} ({error}): is `orrange up` running, "
                              "or does --api (ORRANGE_API_URL) name another address?") from None
        if response.status_code >= 400:
            raise _refusal(response)
        return response.json() if response.content else None

    # --- signed in --------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self._wallet.address

    def sign_in(self) -> None:
        """Logs in with a fresh SIWE signature, and keeps the session for later commands."""
        from api.auth import login_message  # here: the server's auth module takes a second to import

        nonce = self.call("POST", "/auth/nonce")
        message = login_message(self.address, nonce["nonce"], domain=nonce["domain"], uri=nonce["uri"],
                                chain_id=nonce["chain_id"], statement=LOGIN_STATEMENT)
        signature = self._wallet.sign_text(message)
        self._keep(self.call("POST", "/auth/login", json={"message": message, "signature": signature}))

    def authorized(self, method: str, path: str, **kwargs):
        """A request as the signed-in trader: with the kept session (refreshed when it is about to
        expire) or a new login; once more with a new session if the server refuses the token
        (it expired, or the server forgot the session: logged out, or a new `orrange up`)."""
        if self._tokens is None:
            self._open_session()
        try:
            return self.call(method, path, headers=self._bearer(), **kwargs)
        except ClientError as error:
            if error.status_code != 401:
                raise
        if not self._refresh():
            self.sign_in()
        return self.call(method, path, headers=self._bearer(), **kwargs)

    def place(self, order: Order, time_in_force: str = "GTC") -> dict:
        """Signs `order` (EIP-712) and submits it; returns the order and the trades it made."""
        typed_data = order.typed_data(self.market["chain_id"], self.market["escrow"])
        body = {"order": order.api_terms(), "signature": self._wallet.sign_typed_data(typed_data),
                "time_in_force": time_in_force}
        return self.authorized("POST", "/orders", json=body)

    def take(self, order_hash: str, amount: int, payment_method: str | None = None) -> dict:
        body = {"amount": str(amount)} | ({"payment_method": payment_method} if payment_method else {})
        return self.authorized("POST", f"/orders/{order_hash}/take", json=body)

    def trade(self, trade_id: str) -> dict:
        return self.authorized("GET", f"/trades/{trade_id}")

    def lock(self, trade_id: str) -> list[tuple[str, str]]:
        """The seller's approve (ERC-20) and lock, sent from their account: [(what, tx hash)]."""
        transactions = self.authorized("GET", f"/trades/{trade_id}/lock-tx")
        return [(what, self.send(transactions[what])) for what in ("approve", "lock") if transactions[what]]

    def send_call(self, trade_id: str, call: str) -> str:
        """An escrow call (mark_paid, release, cancel, refund, dispute) sent from the trader's own
        account, which pays its gas; returns the transaction's hash."""
        return self.send(self.authorized("GET", f"/trades/{trade_id}/tx/{call}"))

    def relay(self, trade_id: str, action: str) -> str:
        """A gasless action (mark_paid, release, cancel): the wallet signs its EIP-712 message and
        the platform's relayer sends it; returns the relayer's transaction hash. The message signed
        is built here; the API's copy only has to agree with it (it names the trade and action)."""
        from indexer.escrow import Action, action_typed_data

        payload = self.authorized("GET", f"/trades/{trade_id}/payload/{action}")  # refuses a step out of turn
        typed_data = action_typed_data(Action[action.upper()], bytes.fromhex(trade_id.removeprefix("0x")),
                                       payload["expiry"], self.market["chain_id"], self.market["escrow"])
        if payload["typed_data"] != typed_data:
            raise ClientError(f"the API asked for a signature of something else than {action} of trade {trade_id}; "
                              "nothing was signed")
        body = {"expiry": str(payload["expiry"]), "signature": self._wallet.sign_typed_data(typed_data)}
        return self.authorized("POST", f"/trades/{trade_id}/relay/{action}", json=body)["tx_hash"]

    def send(self, tx: dict) -> str:
        return self._wallet.send(tx, self.market["chain_id"])

    def wait_for(self, trade_id: str, statuses: Collection[str], timeout: float) -> dict:
        """Polls the trade until its status is one of `statuses` (the chain's changes reach it
        through the indexer); a ClientError if it ends elsewhere or takes longer than `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            trade = self.trade(trade_id)
            if trade["status"] in statuses:
                return trade
            if TradeStatus(trade["status"]).is_final:
                raise ClientError(f"trade {trade_id} ended {trade['status']}, not {' or '.join(statuses)}")
            if time.monotonic() > deadline:
                raise ClientError(f"trade {trade_id} is still {trade['status']} after {timeout:.0f} s; is the "
                                  "indexer behind? (`orrange status`)")
            time.sleep(0.25)

    # --- the session ----------------------------------------------------------------------------

    @property
    def _wallet(self) -> Wallet:
        if self.wallet is None:
            raise ClientError("name the Ape account that signs: --account ALIAS or ORRANGE_ACCOUNT "
                              "(`ape accounts list`; TEST::1 to TEST::4 hold test USD on `orrange up`)")
        return self.wallet

    def _open_session(self) -> None:
        self._tokens = self.sessions.get(self.api_url, self.address) if self.sessions is not None else None
        if self._tokens is None or (
            _expires_at(self._tokens["access_token"]) < time.time() + _EXPIRY_MARGIN and not self._refresh()
        ):
            self.sign_in()

    def _refresh(self) -> bool:
        """A new token pair for the session (a refresh token works once); False if refused."""
        if self._tokens is None:
            return False
        try:
            self._keep(self.call("POST", "/auth/refresh", json={"refresh_token": self._tokens["refresh_token"]}))
        except ClientError:
            self._forget()
            return False
        return True

    def _bearer(self) -> dict:
        return {"Authorization": f"Bearer {self._tokens['access_token']}"}

    def _keep(self, tokens: dict) -> None:
        self._tokens = tokens
        if self.sessions is not None:
            self.sessions.put(self.api_url, self.address, tokens)

    def _forget(self) -> None:
        self._tokens = None
        if self.sessions is not None:
            self.sessions.drop(self.api_url, self.address)


def _expires_at(access_token: str) -> float:
    """The `exp` of a JWT, read without checking it (only the server can, and will)."""
    try:
        claims = access_token.split(".")[1]
        return float(json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0


def _refusal(response: httpx.Response) -> ClientError:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if not isinstance(detail, str):
        detail = f"{response.request.method} {response.request.url.path} answered {response.status_code}: {response.text[:200]}"
    return ClientError(detail, response.status_code)
