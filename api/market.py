"""What can be traded here: the chain, its escrow and the tokens it accepts (from the
deployment record), and the fiat currencies with their precision (ISO 4217 minor units)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext


from api.signing import PRICE_SCALE
from indexer.deployment import Deployment
from indexer.escrow import to_checksum_address

# ISO 4217 codes and their minor units: how many decimals a fiat amount has.
FIAT_DECIMALS = {
    **dict.fromkeys(
        "AED ARS AUD BDT BGN BRL CAD CHF CNY COP CZK DKK EGP EUR GBP GEL GHS HKD HUF ILS INR KES KZT MAD MXN MYR "
        "NGN NOK NZD PEN PHP PKR PLN RON RSD RUB SAR SEK SGD THB TRY TWD UAH USD UZS ZAR IDR LKR NPR".split(),
        2,
    ),
    **dict.fromkeys("CLP ISK JPY KRW PYG UGX VND XAF XOF".split(), 0),
    **dict.fromkeys("BHD JOD KWD OMR TND".split(), 3),
}


@dataclass(frozen=True, slots=True)
class Token:
    symbol: str
    address: str  # checksummed; 0x000...0 is native ETH
    decimals: int
    cap: int  # the largest escrow the contract accepts, in base units


@dataclass(frozen=True)
class Market:
    chain_id: int
    escrow: str
    tokens: dict[str, Token]  # by checksummed address

    @classmethod
    def from_deployment(cls, deployment: Deployment) -> Market:
        tokens = {
            to_checksum_address(token.address): Token(
                token.symbol, to_checksum_address(token.address), token.decimals, token.cap
            )
            for token in deployment.tokens
        }
        return cls(deployment.chain_id, to_checksum_address(deployment.escrow.address), tokens)

    def token(self, address: str) -> Token | None:
        try:
            return self.tokens.get(to_checksum_address(address))
        except ValueError:
            return None


def fiat_amount(amount: int, price: int, decimals: int, fiat: str) -> Decimal:
    """What `amount` base units cost at `price` (fiat per whole token x 10^8), to the fiat's
    precision, rounded half-even (exact otherwise: no float on the way)."""
    with localcontext() as context:
        context.prec = 120  # more digits than any uint256 product has
        exact = Decimal(amount * price) / Decimal(10**decimals * PRICE_SCALE)
        return exact.quantize(Decimal(1).scaleb(-FIAT_DECIMALS[fiat]))
