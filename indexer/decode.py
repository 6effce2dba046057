"""Log decoding from the contract's ABI: pure, no I/O.

Every field of the escrow's events is a static 32-byte word, so the decoder slices the hex
of `topics` and `data` directly (an order of magnitude faster than a general ABI decoder);
an event with a dynamic field falls back to eth-abi.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, keccak

from indexer.escrow import to_checksum_address


@dataclass(slots=True)
class Event:
    """One decoded log, with where it came from."""

    name: str
    contract: str  # checksummed
    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str
    timestamp: int | None  # the block's, when the node includes it in the log
    args: dict[str, Any]

    @property
    def position(self) -> tuple[int, int]:
        return self.block_number, self.log_index

    def as_tuple(self) -> tuple:
        """The fields in order, for `Event(*fields)` (cheap to pickle between processes)."""
        return (self.name, self.contract, self.block_number, self.block_hash, self.log_index, self.tx_hash,
                self.timestamp, self.args)  # fmt: skip


_checksummed: dict[str, str] = {}
_hashes: dict[str, str] = {}


def _hash(text: str) -> str:
    """A 32-byte hash in lower case, one string object per value: a block's hash recurs in each
    of its logs, a transaction's and a trade's in several, and objects shared this way are
    pickled once on their way to the writer."""
    try:
        return _hashes[text]
    except KeyError:
        if len(_hashes) > 100_000:
            _hashes.clear()
        value = _hashes[text] = text.lower()
        return value


def _address(word: str) -> str:
    """The checksummed address in a word; cached, since a chain's logs name few addresses often."""
    try:
        return _checksummed[word]
    except KeyError:
        if len(_checksummed) > 100_000:
            _checksummed.clear()
        address = _checksummed[word] = to_checksum_address("0x" + word[24:])
        return address


def _word_decoder(abi_type: str) -> Callable[[str], Any] | None:
    """A decoder for one 64-hex-digit word, or None for a type that isn't a single static word."""
    if abi_type == "address":
        return _address
    if abi_type.startswith("uint"):
        return lambda word: int(word, 16)
    if abi_type.startswith("int"):  # sign-extended to 256 bits
        return lambda word: int(word, 16) - (1 << 256 if int(word[0], 16) >= 8 else 0)
    if abi_type == "bool":
        return lambda word: word[-1] != "0"
    if abi_type == "bytes32":
        return lambda word: _hash("0x" + word)
    if abi_type.startswith("bytes") and abi_type[5:].isdigit():
        size = int(abi_type[5:])
        return lambda word: "0x" + word[: 2 * size].lower()
    return None


@dataclass(frozen=True, slots=True)
class _EventSpec:
    name: str
    topic_fields: tuple[tuple[str, Callable, int], ...]  # name, decoder, topic index
    data_fields: tuple[tuple[str, Callable, int], ...] | None  # name, decoder, offset in the hex; None: eth-abi
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]


class EventDecoder:
    """Decodes the logs of contracts that share one ABI."""

    def __init__(self, abi: Iterable[dict]):
        self._specs: dict[str, _EventSpec] = {}
        for item in abi:
            if item.get("type") != "event" or item.get("anonymous"):
                continue
            indexed = [field for field in item["inputs"] if field["indexed"]]
            data = [field for field in item["inputs"] if not field["indexed"]]
            # An indexed dynamic field is stored as its hash: keep the hash as bytes32.
            topic_fields = tuple(
                (f["name"], _word_decoder(f["type"]) or _word_decoder("bytes32"), index)
                for index, f in enumerate(indexed, start=1)
            )
            word_decoders = [_word_decoder(f["type"]) for f in data]
            static = all(word_decoders)
            self._specs["0x" + event_abi_to_log_topic(item).hex()] = _EventSpec(
                name=item["name"],
                topic_fields=topic_fields,
                data_fields=tuple((f["name"], d, 2 + 64 * i) for i, (f, d) in enumerate(zip(data, word_decoders)))
                if static
                else None,
                data_names=tuple(f["name"] for f in data),
                data_types=tuple(f["type"] for f in data),
            )

    @property
    def topics(self) -> list[str]:
        """topic0 of every event this decoder knows."""
        return list(self._specs)

    def decode(self, log: dict) -> Event | None:
        """Decodes a JSON-RPC log object; None for an event not in the ABI."""
        topics = log["topics"]
        if not topics:
            return None
        spec = self._specs.get(topics[0]) or self._specs.get(topics[0].lower())
        if spec is None:
            return None
        args = {name: decode(topics[index][2:]) for name, decode, index in spec.topic_fields}
        data = log["data"]
        if spec.data_fields is not None:
            for name, decode, offset in spec.data_fields:
                args[name] = decode(data[offset : offset + 64])
        else:
            values = abi_decode(list(spec.data_types), bytes.fromhex(data[2:]))
            args.update(zip(spec.data_names, values))
        timestamp = log.get("blockTimestamp")
        return Event(
            name=spec.name,
            contract=_address(log["address"][2:].rjust(64, "0")),
            block_number=int(log["blockNumber"], 16),
            block_hash=_hash(log["blockHash"]),
            log_index=int(log["logIndex"], 16),
            tx_hash=_hash(log["transactionHash"]),
            timestamp=int(timestamp, 16) if timestamp else None,
            args=args,
        )


def bloom_bits(value: bytes) -> tuple[int, ...]:
    """The three bits `value` sets in a 2048-bit logs bloom (yellow paper, M3:2048)."""
    digest = keccak(value)
    return tuple(int.from_bytes(digest[i : i + 2], "big") & 2047 for i in (0, 2, 4))


def bloom_may_contain(logs_bloom: str, bits: tuple[int, ...]) -> bool:
    """False when a block's `logsBloom` proves it has no log with the item behind `bits`."""
    bloom = int(logs_bloom, 16)
    return all(bloom >> bit & 1 for bit in bits)
