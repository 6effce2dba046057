"""The trader commands (`orrange order|trade|escrow`) and `orrange status`, run with typer's
CliRunner against the real API (uvicorn, its jobs), the indexer following a real anvil, and real
databases, signing with Ape's test accounts; a keyfile account and shell completion as a
person's shell runs them (subprocesses of the installed `orrange`)."""

from __future__ import annotations

import json
import os
import subprocess
import threading

import httpx
import pytest
from eth_account import Account
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from api.models import AuthSession
from tests.anvil import free_port
from tests.api.conftest import ORRANGE
from tests.api.server import serve

UNIT = 10**6  # tUSD's base units
SELLER, BUYER = "TEST::1", "TEST::2"  # the world's traders[0] and traders[1]
runner = CliRunner()
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings(settings, database_url):  # named, so that a test can choose its database (sqlite_only)
    return settings.model_copy(update={"jobs_interval": 0.2})  # trades follow their escrows sooner


@pytest.fixture
def api_url(platform, indexer):
    """The API served over HTTP with its jobs and relayer, the indexer following the chain."""
    stop = threading.Event()
    following = threading.Thread(target=indexer.run, args=(stop,), daemon=True)
    following.start()
    with serve(create_app(platform=platform, run_jobs=True)) as url:
        yield url
    stop.set()
    following.join(timeout=20)


@pytest.fixture
def orrange(api_url, chain, settings, tmp_path):
    """Runs `orrange ARGS` as `account`; returns the result after checking its exit status: 0, or
    with `fails` 1 and one line on stderr, no traceback."""
    env = {"ORRANGE_API_URL": api_url, "ORRANGE_RPC_URL": chain.url, "ORRANGE_DATABASE_URL": settings.database_url,
           "XDG_CONFIG_HOME": str(tmp_path / "config")}

    def run(*args: str, account: str | None = None, fails: bool = False):
        result = runner.invoke(app, list(args), env={**env, "ORRANGE_ACCOUNT": account})
        if fails:
            assert result.exit_code == 1, result.output
            assert isinstance(result.exception, SystemExit), result.exception
            assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
        else:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return run


def balance(chain, token: str, address: str) -> int:
    return chain.call(token, "balanceOf", address, returns="uint256")


def open_trade(orrange, amount="100", token="tUSD") -> str:
    """The seller's ad, taken by the buyer: the trade's id."""
    order_hash = orrange("order", "place", "sell", "250" if token == "tUSD" else "1", token, "--price", "0.92",
                         "--fiat", "EUR", "-m", "SEPA", "-m", "Wise", account=SELLER).stdout.strip()
    return orrange("trade", "take", order_hash, amount, "--method", "Wise", account=BUYER).stdout.strip()


def test_whole_trade__place_take_lock_paid_release__released_as_the_chain_says(orrange, chain, world, traders):
    seller, buyer = traders[0].address, traders[1].address
    placed = orrange("order", "place", "sell", "250", "tUSD", "--price", "0.92", "--fiat", "EUR", "-m", "SEPA",
                     "--min-fill", "10", account=SELLER)
    order_hash = placed.stdout.strip()
    assert "SELL 250/250 tUSD at 0.92 EUR (SEPA), OPEN" in placed.stderr
    listed = orrange("order", "list", "--token", "tUSD", "--fiat", "EUR", "--json")
    assert [(o["hash"], o["maker"], o["price"]) for o in json.loads(listed.stdout)["orders"]] == [
        (order_hash, seller, str(92_000_000))]

    trade_id = orrange("trade", "take", order_hash, "100", account=BUYER).stdout.strip()
    assert len(trade_id) == 66
    assert "SELL 150/250 tUSD" in orrange("order", "list").stdout

    locked = orrange("trade", "lock", trade_id, account=SELLER)
    assert "approve: tx 0x" in locked.stderr and "lock: tx 0x" in locked.stderr
    assert locked.stderr.rstrip().endswith(": LOCKED")
    status = json.loads(orrange("status", "--json").stdout)
    assert status["open_trades"]["LOCKED"] == 1
    assert status["escrowed"] == [{"token": world.tokens[1], "symbol": "tUSD", "decimals": 6,
                                   "amount": str(100 * UNIT), "escrows": 1}]
    assert "escrowed  100 tUSD (1 escrow)" in orrange("status").stdout

    before = balance(chain, world.tokens[1], buyer)
    assert "mark paid relayed: tx 0x" in orrange("trade", "paid", trade_id, account=BUYER).stderr
    released = orrange("trade", "release", trade_id, account=SELLER)
    assert "release relayed: tx 0x" in released.stderr and released.stderr.rstrip().endswith(": RELEASED")
    assert balance(chain, world.tokens[1], buyer) == before + 100 * UNIT - 100 * UNIT * 50 // 10_000

    escrow = json.loads(orrange("escrow", "show", trade_id, "--json").stdout)
    assert (escrow["status"], escrow["seller"], escrow["buyer"], escrow["amount"]) == (
        "RELEASED", seller, buyer, str(100 * UNIT))
    assert orrange("escrow", "show", trade_id).stdout.startswith(f"{trade_id}  RELEASED: 100 tUSD (fee 0.5)")
    mine = json.loads(orrange("trade", "list", "--json", account=BUYER).stdout)
    assert [(t["trade_id"], t["status"]) for t in mine] == [(trade_id, "RELEASED")]
    assert json.loads(orrange("status", "--json").stdout)["escrowed"] == []


@sqlite_only
def test_trade__eth_without_relay__each_party_sends_and_pays_for_its_own_transaction(orrange, chain, traders):
    trade_id = open_trade(orrange, "0.25", token="ETH")
    assert "approve" not in orrange("trade", "lock", trade_id, account=SELLER).stderr  # ETH goes with the lock
    paid = orrange("trade", "paid", trade_id, "--no-relay", account=BUYER).stderr
    tx_hash = paid.split("mark paid: tx ")[1].split()[0]
    assert chain.rpc("eth_getTransactionByHash", [tx_hash])["from"].lower() == traders[1].address.lower()
    released = orrange("trade", "release", trade_id, "--no-relay", account=SELLER).stderr
    assert "release: tx 0x" in released and released.rstrip().endswith(": RELEASED")


@sqlite_only
def test_trade_cancel__before_the_lock__cancelled_and_the_amount_back_in_the_ad(orrange):
    trade_id = open_trade(orrange)
    assert orrange("trade", "cancel", trade_id, account=BUYER).stderr.rstrip().endswith(": CANCELLED")
    assert "SELL 250/250 tUSD" in orrange("order", "list").stdout


@sqlite_only
def test_trade_cancel__after_the_lock__relayed_and_refunded_to_the_seller(orrange, chain, world, traders):
    trade_id = open_trade(orrange)
    orrange("trade", "lock", trade_id, account=SELLER)
    before = balance(chain, world.tokens[1], traders[0].address)
    assert "cancel relayed: tx 0x" in orrange("trade", "cancel", trade_id, account=BUYER).stderr
    assert balance(chain, world.tokens[1], traders[0].address) == before + 100 * UNIT


@sqlite_only
def test_trade_dispute__after_paid__disputed_by_the_buyer_s_own_transaction(orrange, chain, world):
    trade_id = open_trade(orrange)
    orrange("trade", "lock", trade_id, account=SELLER)
    orrange("trade", "paid", trade_id, account=BUYER)
    assert orrange("trade", "dispute", trade_id, account=BUYER).stderr.rstrip().endswith(": DISPUTED")
    assert chain.call(world.escrow, "status", bytes.fromhex(trade_id[2:]), returns="uint8") == 5


@sqlite_only
def test_trade_refund__before_the_deadline__the_escrow_s_reason_in_one_line_and_nothing_sent(orrange, chain):
    trade_id = open_trade(orrange)
    orrange("trade", "lock", trade_id, account=SELLER)
    head = chain.block_number()
    refused = orrange("trade", "refund", trade_id, account=SELLER, fails=True)
    assert "the chain refuses this transaction: escrow: " in refused.stderr
    assert chain.block_number() == head
    assert orrange("trade", "show", trade_id, account=SELLER).stdout.rstrip().endswith(": LOCKED")


@sqlite_only
def test_trade_steps__by_the_wrong_party__the_api_s_reason_and_no_change(orrange):
    trade_id = open_trade(orrange)
    assert "only the seller locks the escrow" in orrange("trade", "lock", trade_id, account=BUYER, fails=True).stderr
    assert "needs it LOCKED" in orrange("trade", "paid", trade_id, account=BUYER, fails=True).stderr
    assert orrange("trade", "show", trade_id, account=BUYER).stdout.rstrip().endswith(": AWAITING_LOCK")


@sqlite_only
def test_order_cancel__one_then_all__none_left_open(orrange):
    hashes = [orrange("order", "place", side, "5", "tUSD", "--price", price, "--fiat", "EUR", "-m", "SEPA",
                      account=SELLER).stdout.strip() for side, price in (("sell", "1.01"), ("buy", "0.9"), ("buy", "0.8"))]
    assert "CANCELLED" in orrange("order", "cancel", hashes[0], account=SELLER).stderr
    assert "cancelled 2 open orders" in orrange("order", "cancel", "--all", account=SELLER).stderr
    statuses = {o["hash"]: o["status"] for o in json.loads(orrange("order", "list", "--status", "ANY", "--json").stdout)["orders"]}
    assert statuses == dict.fromkeys(hashes, "CANCELLED")
    assert orrange("order", "list", "--mine", account=SELLER).stderr == "no orders\n"


@sqlite_only
def test_mistakes__one_line_exit_1_and_nothing_changes(orrange):
    order_hash = orrange("order", "place", "sell", "50", "tUSD", "--price", "0.92", "--fiat", "EUR", "-m", "SEPA",
                         "--min-fill", "10", account=SELLER).stdout.strip()
    for args, account, says in [
        (("trade", "take", order_hash, "60"), BUYER, "must be from 10000000 to the remaining 50000000 base units"),
        (("trade", "take", order_hash, "10.0000001"), BUYER, "the amount 10.0000001 has more than 6 decimals"),
        (("trade", "take", order_hash, "ten"), BUYER, "the amount 'ten' is not a number"),
        (("trade", "take", order_hash, "10"), None, "name the Ape account that signs"),
        (("trade", "take", order_hash, "10"), "nobody", "Account with alias 'nobody' not found"),
        (("trade", "take", order_hash, "10"), "TEST::99", "Index '99' is not valid"),
        (("order", "place", "sell", "1", "DOGE", "--price", "1", "--fiat", "EUR", "-m", "SEPA"), SELLER,
         "the platform trades no token 'DOGE'; it trades tUSD, ETH"),
        (("order", "place", "sell", "1", "tUSD", "--price", "1", "--fiat", "XXX", "-m", "SEPA"), SELLER,
         "fiat 'XXX' is not a currency priced here"),
        (("order", "place", "sell", "1", "tUSD", "--price", "-1", "--fiat", "EUR", "-m", "SEPA"), SELLER,
         "the price must be a positive number"),
        (("order", "cancel"), SELLER, "name one order's hash, or --all"),
        (("order", "list", "--api", f"http://127.0.0.1:{free_port()}"), None, "is `orrange up` running"),
        (("escrow", "show", "0x" + "ab" * 32), None, "no escrow 0x" + "ab" * 32 + " is indexed"),
        (("escrow", "list"), None, "name whose escrows: --address, or --account"),
    ]:
        assert says in orrange(*args, account=account, fails=True).stderr, args
    order = json.loads(orrange("order", "list", "--json").stdout)["orders"][0]
    assert (order["hash"], order["remaining"], order["status"]) == (order_hash, str(50 * UNIT), "OPEN")


@sqlite_only
def test_login__kept_between_commands__one_session_and_a_stale_one_replaced(orrange, platform, traders, tmp_path):
    orrange("trade", "list", account=BUYER)
    orrange("trade", "list", account=BUYER)
    store = tmp_path / "config" / "orrange" / "sessions.json"
    assert store.stat().st_mode & 0o777 == 0o600
    with Session(platform.engine) as session:
        assert len(session.exec(select(AuthSession).where(AuthSession.address == traders[1].address)).all()) == 1

    # A server that forgot the session (a new `orrange up`): the client signs in again by itself.
    sessions = json.loads(store.read_text())
    (key,) = sessions
    sessions[key] = {"access_token": "not.a.token", "refresh_token": "spent"}
    store.write_text(json.dumps(sessions))
    orrange("trade", "list", account=BUYER)
    assert json.loads(store.read_text())[key]["refresh_token"] != "spent"


@sqlite_only
def test_keyfile_account__signs_from_its_passphrase__or_refuses_in_one_line_when_declined(api_url, chain, tmp_path):
    """An `ape accounts import`ed keyfile account, in the installed `orrange` run as a shell would."""
    wallet = Account.create()
    accounts = tmp_path / "ape" / "accounts"
    accounts.mkdir(parents=True)
    keyfile = Account.encrypt(wallet.key, "correct horse", kdf="pbkdf2", iterations=1000)  # fast to unlock
    (accounts / "alice.json").write_text(json.dumps(keyfile))
    env = {**os.environ, "APE_DATA_FOLDER": str(tmp_path / "ape"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "ORRANGE_API_URL": api_url, "ORRANGE_RPC_URL": chain.url, "ORRANGE_ACCOUNT": "alice"}
    place = [ORRANGE, "order", "place", "buy", "20", "tUSD", "--price", "0.93", "--fiat", "EUR", "-m", "SEPA"]

    declined = subprocess.run(place, env=env, input="n\n", capture_output=True, text=True, timeout=120)
    assert declined.returncode == 1, declined.stderr
    assert declined.stderr.endswith("error: alice did not sign (declined)\n") and "Traceback" not in declined.stderr

    env["APE_ACCOUNTS_alice_PASSPHRASE"] = "correct horse"
    placed = subprocess.run(place, env=env, capture_output=True, text=True, timeout=120)
    assert placed.returncode == 0, placed.stderr
    order = httpx.get(f"{api_url}/orders/{placed.stdout.strip()}").json()
    assert (order["maker"], order["side"], order["amount"]) == (wallet.address, 0, str(20 * UNIT))


def test_completion__the_shell_is_offered_groups_commands_and_choices():
    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_ORRANGE_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        return subprocess.run([ORRANGE], env=env, capture_output=True, text=True, timeout=60, check=True).stdout.split()

    assert complete("orrange tr", 1) == ["trade"]
    assert complete("orrange trade ", 2) == ["take", "lock", "paid", "release", "cancel", "refund", "dispute", "show", "list"]
    assert complete("orrange order place ", 3) == ["sell", "buy"]
    script = subprocess.run([ORRANGE, "--show-completion", "bash"], capture_output=True, text=True, timeout=60)
    assert script.returncode == 0 and "_ORRANGE_COMPLETE=complete_bash" in script.stdout


def test_help__every_command_has_one():
    def commands(group, path=()):
        for name, command in getattr(group, "commands", {}).items():
            yield (*path, name), command
            yield from commands(command, (*path, name))

    from typer.main import get_command

    for path, command in commands(get_command(app)):
        assert command.help, path
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.stdout, path
