"""Sign-In with Ethereum against the real API on SQLite and PostgreSQL."""

import time

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_defunct

from tests.api.conftest import DOMAIN, URI, bearer, sign_in, siwe_message


def _login(client, wallet, message):
    signature = wallet.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    return client.post("/auth/login", json={"message": message, "signature": signature})


def test_login__eoa__tokens_that_work(client, traders):
    tokens = sign_in(client, traders[0])
    assert tokens["address"] == traders[0].address
    assert client.get("/auth/me", headers=bearer(tokens)).json() == {"address": traders[0].address}


def test_nonce__names_what_the_message_must_say(client):
    body = client.post("/auth/nonce").json()
    assert (body["domain"], body["uri"], body["chain_id"]) == (DOMAIN, URI, 31337)
    assert len(body["nonce"]) >= 8 and body["expires_at"] > time.time()


def test_login__nonce_used_twice__refused(client, traders):
    nonce = client.post("/auth/nonce").json()["nonce"]
    message = siwe_message(traders[0].address, nonce)
    assert _login(client, traders[0], message).status_code == 200
    again = _login(client, traders[0], message)
    assert again.status_code == 401 and "nonce" in again.json()["detail"]


def test_login__unknown_nonce__refused(client, traders):
    response = _login(client, traders[0], siwe_message(traders[0].address, "abcdefgh12345678"))
    assert response.status_code == 401 and "nonce" in response.json()["detail"]


@pytest.mark.parametrize(
    "override, says",
    [({"domain": "evil.test"}, "domain"), ({"uri": "https://evil.test/login"}, "URI"), ({"chain_id": 1}, "chain"),
     ({"expires": "2020-01-01T00:00:00Z"}, "expired")],
)
def test_login__message_for_elsewhere__refused_and_nonce_kept(client, traders, override, says):
    nonce = client.post("/auth/nonce").json()["nonce"]
    response = _login(client, traders[0], siwe_message(traders[0].address, nonce, **override))
    assert response.status_code == 401 and says in response.json()["detail"]
    assert _login(client, traders[0], siwe_message(traders[0].address, nonce)).status_code == 200


def test_login__signed_by_someone_else__refused(client, traders):
    nonce = client.post("/auth/nonce").json()["nonce"]
    message = siwe_message(traders[0].address, nonce)
    response = _login(client, traders[1], message)
    assert response.status_code == 401 and "signature" in response.json()["detail"]


def test_login__not_a_siwe_message__400(client):
    response = client.post("/auth/login", json={"message": "hello", "signature": "0x" + "11" * 65})
    assert response.status_code == 400 and "EIP-4361" in response.json()["detail"]


def test_login__erc1271_wallet(client, chain, project, traders):
    owner = traders[2]
    wallet, _ = chain.deploy(owner.address, project.Wallet1271.contract_type)
    nonce = client.post("/auth/nonce").json()["nonce"]
    message = siwe_message(wallet, nonce)
    digest = _hash_eip191_message(encode_defunct(text=message))
    signature = Account.unsafe_sign_hash(digest, owner.key).signature.to_0x_hex()
    response = client.post("/auth/login", json={"message": message, "signature": signature})
    assert response.status_code == 200, response.text
    assert response.json()["address"] == wallet


def test_refresh__rotates_and_reuse_revokes_the_session(client, traders):
    first = sign_in(client, traders[0])
    second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/auth/me", headers=bearer(second)).status_code == 200
    stolen = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert stolen.status_code == 401 and "revoked" in stolen.json()["detail"]
    assert client.get("/auth/me", headers=bearer(second)).status_code == 401
    assert client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401


def test_logout__access_and_refresh_stop_working(client, traders):
    tokens = sign_in(client, traders[0])
    assert client.post("/auth/logout", headers=bearer(tokens)).status_code == 204
    assert client.get("/auth/me", headers=bearer(tokens)).status_code == 401
    assert client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_access__token_expires_though_this_process_checked_it_before(client, traders, monkeypatch):
    from api import auth

    tokens = sign_in(client, traders[0])
    assert client.get("/auth/me", headers=bearer(tokens)).status_code == 200  # checked, and remembered
    later = time.time() + tokens["expires_in"] + 1
    monkeypatch.setattr(auth.time, "time", lambda: later)
    response = client.get("/auth/me", headers=bearer(tokens))
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_access__missing_or_forged_token__401(client):
    assert client.get("/auth/me").status_code == 401
    assert client.get("/auth/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
