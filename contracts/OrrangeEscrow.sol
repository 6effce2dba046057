// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/**
 * @title Orrange P2P Escrow, in Solidity
 * @custom:contract-name OrrangeEscrow
 * @notice The twin of contracts/Escrow.vy for teams that audit and deploy Solidity: the same
 *         functions with the same arguments, events, revert reasons, EIP-712 domain and types,
 *         and the same one storage slot per escrow, so the indexer, the API and every client
 *         work with either. Holds a seller's tokens (ERC-20 or native ETH) for an off-chain
 *         crypto-for-fiat trade until the seller releases them to the buyer, the buyer cancels,
 *         the payment window lapses and the seller takes them back, or the deal's arbiter splits
 *         a dispute. The escrow's slot holds a commitment to the deal's terms with the status in
 *         its low byte; every call after `lock` passes the terms back in as a `Deal`, which must
 *         match the commitment.
 * @dev Names are the Vyper contract's (snake_case), since they are the public interface; the
 *      parameters `fee_bps`, `treasury` and `arbiter` keep them even where they shadow a view of
 *      the same name (solc warns), so that both ABIs are the same. Where Escrow.vy relies on
 *      Vyper semantics, this contract spells them out: snekmate's revert reasons for ownership
 *      and ECDSA, `raw_call`'s handling of return data (tokens returning no bool, at most 32
 *      bytes read back), the transient-storage reentrancy lock that reverts without a reason, and
 *      the 1,024-byte bound of an ERC-1271 signature. An arithmetic overflow (a hostile token, or
 *      amounts near 2^256) reverts with Panic(0x11) here and without data there.
 * @custom:security The owner lists tokens, sets the fee, the treasury and the arbiter for future
 *                  deals, and pauses new locks; no admin path moves escrowed funds. A deal's
 *                  arbiter, fixed at lock time, can only split that deal once it is disputed. A
 *                  payout its recipient cannot take (a blacklisted address, a contract that
 *                  rejects ETH) is credited to `claimable`, so no party can trap the other's
 *                  funds. Relayed actions need the party's EIP-712 signature (EOA or ERC-1271),
 *                  bound to this contract, this chain, one trade and an expiry; each works once
 *                  because the action it signs moves the escrow out of the state it needs.
 */
contract OrrangeEscrow {
    // -------------------------------------------------------------------------
    // Constants
    // -------------------------------------------------------------------------

    /// @dev The highest platform fee the owner can set: 1%.
    uint256 public constant MAX_FEE_BPS = 100;
    /// @dev The shortest and longest payment window a seller can give a buyer.
    uint256 public constant MIN_WINDOW = 600;
    uint256 public constant MAX_WINDOW = 604_800;

    uint256 private constant _BPS = 10_000;

    /// @dev Escrow status codes, stored in the low byte of the escrow's slot.
    uint256 private constant _LOCKED = 1;
    uint256 private constant _PAID = 2;
    uint256 private constant _RELEASED = 3;
    uint256 private constant _REFUNDED = 4;
    uint256 private constant _DISPUTED = 5;
    uint256 private constant _RESOLVED = 6;
    uint256 private constant _STATUS_BITS = 255;

    /// @dev Layout of `_config`, the one slot `lock` reads.
    uint256 private constant _ARBITER_BITS = (1 << 160) - 1;
    uint256 private constant _FEE_SHIFT = 160;
    uint256 private constant _FEE_BITS = 65_535 << 160;
    uint256 private constant _PAUSED_SHIFT = 176;

    /// @dev Native ETH is the token `address(0)`.
    address private constant _ETH = address(0);
    /// @dev Gas a recipient may spend taking an ETH payout, enough for smart wallets (a Safe
    /// takes about 7,000) and too little to grief the caller. A caller who starves the call
    /// cannot force the fallback to `claimable` either: the 1/64 left after a starved call
    /// cannot pay for the credit.
    uint256 private constant _ETH_SEND_GAS = 50_000;

    /// @dev Longest signature accepted from an ERC-1271 wallet (multisigs and passkey wallets
    /// sign with more than 65 bytes); Escrow.vy's `Bytes[1024]`.
    uint256 private constant _SIGNATURE_MAX = 1024;
    bytes4 private constant _ERC1271_MAGIC = 0x1626ba7e;
    /// @dev secp256k1n / 2: a larger `s` is the malleable twin of a valid signature.
    uint256 private constant _MALLEABILITY_THRESHOLD =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    bytes32 private constant _MARK_PAID_TYPEHASH = keccak256("MarkPaid(bytes32 tradeId,uint256 expiry)");
    bytes32 private constant _RELEASE_TYPEHASH = keccak256("Release(bytes32 tradeId,uint256 expiry)");
    bytes32 private constant _CANCEL_TYPEHASH = keccak256("Cancel(bytes32 tradeId,uint256 expiry)");
    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant _HASHED_NAME = keccak256("Orrange Escrow");
    bytes32 private constant _HASHED_VERSION = keccak256("1");

    // -------------------------------------------------------------------------
    // Types and storage
    // -------------------------------------------------------------------------

    struct Deal {
        address seller;
        address buyer;
        // address(0) for native ETH
        address token;
        // what actually arrived (balance difference), not what was asked
        uint256 amount;
        // platform fee, fixed at lock time
        uint256 fee;
        // the arbiter at lock time
        address arbiter;
        // from this time on the seller may take an unpaid escrow back
        uint256 deadline;
    }

    /// @dev trade id => keccak256(abi.encode(deal)) with its low byte replaced by the status.
    mapping(bytes32 => uint256) private _escrows;
    /// @dev What `lock` reads, packed: arbiter (bits 0-159), fee in bps (160-175), paused (176).
    uint256 private _config;
    /// @dev The account that withdraws the accrued fees.
    address private _treasury;
    /// @dev token => the largest amount one escrow may hold; 0 means not accepted.
    mapping(address => uint256) public token_cap;
    /// @dev token => fees earned and not yet withdrawn; they belong to the treasury.
    mapping(address => uint256) public accrued_fees;
    /// @dev token => account => payouts the account could not take when they were made.
    mapping(address => mapping(address => uint256)) private _credited;
    /// @dev The admin, and the account it offered the role to (two-step transfer).
    address public owner;
    address public pending_owner;
    /// @dev 1 while an external function runs, so that no call it makes can re-enter (a whole
    /// transient slot: a packed bool would need a read before each write).
    uint256 private transient _entered;

    /// @dev The EIP-712 domain separator at deployment, rebuilt if the chain forks.
    bytes32 private immutable _CACHED_DOMAIN_SEPARATOR;
    uint256 private immutable _CACHED_CHAIN_ID;
    address private immutable _CACHED_SELF;

    // -------------------------------------------------------------------------
    // Events
    // -------------------------------------------------------------------------

    event Locked(
        bytes32 indexed trade_id,
        address indexed seller,
        address indexed buyer,
        address token,
        uint256 amount,
        uint256 fee,
        address arbiter,
        uint256 deadline
    );
    event Paid(bytes32 indexed trade_id);
    event Released(bytes32 indexed trade_id, uint256 buyer_amount, uint256 fee);
    event Refunded(bytes32 indexed trade_id, uint256 amount);
    event Extended(bytes32 indexed trade_id, uint256 deadline);
    event Disputed(bytes32 indexed trade_id, address indexed by);
    event Resolved(bytes32 indexed trade_id, uint256 buyer_amount, uint256 seller_amount, uint256 fee);
    event Credited(address indexed token, address indexed account, uint256 amount);
    event Withdrawn(address indexed token, address indexed account, uint256 amount);
    event FeeBpsSet(uint256 fee_bps);
    event TreasurySet(address indexed treasury);
    event ArbiterSet(address indexed arbiter);
    event TokenCapSet(address indexed token, uint256 cap);
    event Paused(address indexed account);
    event Unpaused(address indexed account);
    event OwnershipTransferred(address indexed previous_owner, address indexed new_owner);
    event OwnershipTransferStarted(address indexed previous_owner, address indexed new_owner);

    // -------------------------------------------------------------------------
    // Modifiers and constructor
    // -------------------------------------------------------------------------

    /// @dev Reverts without a reason, as Vyper's `@nonreentrant` does.
    modifier nonreentrant() {
        require(_entered == 0);
        _entered = 1;
        _;
        _entered = 0;
    }

    /// @dev The message is snekmate's `ownable`.
    modifier only_owner() {
        require(msg.sender == owner, "ownable: caller is not the owner");
        _;
    }

    /**
     * @notice The deployer becomes the owner. No token is accepted until the owner sets its
     *         cap with `set_token_cap`.
     * @param fee_bps Platform fee in basis points, at most MAX_FEE_BPS.
     * @param treasury The account that withdraws the fees.
     * @param arbiter The arbiter of deals locked from now on.
     */
    constructor(uint256 fee_bps, address treasury, address arbiter) {
        _transfer_ownership(msg.sender);
        _CACHED_DOMAIN_SEPARATOR = _build_domain_separator();
        _CACHED_CHAIN_ID = block.chainid;
        _CACHED_SELF = address(this);
        require(fee_bps <= MAX_FEE_BPS, "escrow: fee too high");
        require(treasury != address(0), "escrow: zero treasury");
        require(arbiter != address(0), "escrow: zero arbiter");
        _treasury = treasury;
        _config = uint256(uint160(arbiter)) | (fee_bps << _FEE_SHIFT);
        emit FeeBpsSet(fee_bps);
        emit TreasurySet(treasury);
        emit ArbiterSet(arbiter);
    }

    // -------------------------------------------------------------------------
    // Trading
    // -------------------------------------------------------------------------

    /**
     * @notice Locks `amount` of `token` (address(0) = ETH, sent as msg.value) from the caller,
     *         the seller, for `buyer`. The buyer may mark the trade paid until `payment_window`
     *         seconds from now.
     * @dev For a fee-on-transfer token the deal holds what arrived.
     */
    function lock(bytes32 trade_id, address buyer, address token, uint256 amount, uint256 payment_window)
        external
        payable
        nonreentrant
    {
        _lock(trade_id, buyer, token, amount, payment_window, msg.value);
    }

    /**
     * @notice `lock` for an EIP-2612 token, approving the escrow with the seller's permit
     *         signature in the same transaction.
     * @dev Anyone can submit a permit; if someone else already used this one, the allowance it
     *      set is enough and the lock goes on.
     */
    function lock_with_permit(
        bytes32 trade_id,
        address buyer,
        address token,
        uint256 amount,
        uint256 payment_window,
        uint256 permit_deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonreentrant {
        require(token != _ETH, "escrow: permit needs a token");
        if (!_try_permit(token, amount, permit_deadline, v, r, s)) {
            require(IERC20(token).allowance(msg.sender, address(this)) >= amount, "escrow: permit failed");
        }
        _lock(trade_id, buyer, token, amount, payment_window, 0);
    }

    /**
     * @notice The buyer says the fiat is paid. Only before the deadline; from then on the
     *         seller can no longer take the escrow back.
     */
    function mark_paid(bytes32 trade_id, Deal calldata deal) external nonreentrant {
        _mark_paid(trade_id, deal, msg.sender);
    }

    /// @notice The seller sends the escrow to the buyer, less the fee.
    function release(bytes32 trade_id, Deal calldata deal) external nonreentrant {
        _release(trade_id, deal, msg.sender);
    }

    /// @notice The buyer calls the trade off; everything goes back to the seller, with no fee.
    function cancel(bytes32 trade_id, Deal calldata deal) external nonreentrant {
        _cancel(trade_id, deal, msg.sender);
    }

    /// @notice The seller takes back an escrow the buyer did not mark paid before the deadline.
    function refund(bytes32 trade_id, Deal calldata deal) external nonreentrant {
        (uint256 hash, uint256 status_) = _check_deal(trade_id, deal);
        require(msg.sender == deal.seller, "escrow: not seller");
        require(status_ == _LOCKED, "escrow: not locked");
        require(block.timestamp >= deal.deadline, "escrow: payment window open");
        _escrows[trade_id] = hash | _REFUNDED;
        emit Refunded(trade_id, deal.amount);
        _pay(deal.token, deal.seller, deal.amount);
    }

    /**
     * @notice The seller gives the buyer more time to pay. The deadline only moves later, and
     *         at most MAX_WINDOW from now.
     */
    function extend(bytes32 trade_id, Deal calldata deal, uint256 new_deadline) external nonreentrant {
        (uint256 hash, uint256 status_) = _check_deal(trade_id, deal);
        require(msg.sender == deal.seller, "escrow: not seller");
        require(status_ == _LOCKED, "escrow: not locked");
        require(new_deadline > deal.deadline, "escrow: deadline not later");
        require(new_deadline <= block.timestamp + MAX_WINDOW, "escrow: deadline too far");
        _escrows[trade_id] = _hash_deal(
            deal.seller, deal.buyer, deal.token, deal.amount, deal.fee, deal.arbiter, new_deadline
        ) | _LOCKED;
        emit Extended(trade_id, new_deadline);
    }

    /// @notice Either party asks the deal's arbiter to decide a paid trade.
    function dispute(bytes32 trade_id, Deal calldata deal) external nonreentrant {
        (uint256 hash, uint256 status_) = _check_deal(trade_id, deal);
        require(msg.sender == deal.buyer || msg.sender == deal.seller, "escrow: not a party");
        require(status_ == _PAID, "escrow: not paid");
        _escrows[trade_id] = hash | _DISPUTED;
        emit Disputed(trade_id, msg.sender);
    }

    /**
     * @notice The deal's arbiter splits a disputed escrow: the buyer gets `buyer_bps` of it
     *         less the same share of the fee, the seller the rest. Nothing is left behind.
     */
    function resolve(bytes32 trade_id, Deal calldata deal, uint256 buyer_bps) external nonreentrant {
        (uint256 hash, uint256 status_) = _check_deal(trade_id, deal);
        require(msg.sender == deal.arbiter, "escrow: not arbiter");
        require(status_ == _DISPUTED, "escrow: not disputed");
        require(buyer_bps <= _BPS, "escrow: bps over 10000");
        uint256 buyer_gross = deal.amount * buyer_bps / _BPS;
        uint256 fee = deal.fee * buyer_bps / _BPS;
        uint256 seller_amount = deal.amount - buyer_gross;
        _escrows[trade_id] = hash | _RESOLVED;
        _accrue_fee(deal.token, fee);
        emit Resolved(trade_id, buyer_gross - fee, seller_amount, fee);
        _pay(deal.token, deal.buyer, buyer_gross - fee);
        _pay(deal.token, deal.seller, seller_amount);
    }

    // -------------------------------------------------------------------------
    // Gasless relays
    // -------------------------------------------------------------------------

    /// @notice `mark_paid` for anyone holding the buyer's signed MarkPaid(tradeId, expiry).
    function mark_paid_by_sig(bytes32 trade_id, Deal calldata deal, uint256 expiry, bytes calldata signature)
        external
        nonreentrant
    {
        _check_signature(deal.buyer, _MARK_PAID_TYPEHASH, trade_id, expiry, signature);
        _mark_paid(trade_id, deal, deal.buyer);
    }

    /// @notice `release` for anyone holding the seller's signed Release(tradeId, expiry).
    function release_by_sig(bytes32 trade_id, Deal calldata deal, uint256 expiry, bytes calldata signature)
        external
        nonreentrant
    {
        _check_signature(deal.seller, _RELEASE_TYPEHASH, trade_id, expiry, signature);
        _release(trade_id, deal, deal.seller);
    }

    /// @notice `cancel` for anyone holding the buyer's signed Cancel(tradeId, expiry).
    function cancel_by_sig(bytes32 trade_id, Deal calldata deal, uint256 expiry, bytes calldata signature)
        external
        nonreentrant
    {
        _check_signature(deal.buyer, _CANCEL_TYPEHASH, trade_id, expiry, signature);
        _cancel(trade_id, deal, deal.buyer);
    }

    // -------------------------------------------------------------------------
    // Claimable payouts
    // -------------------------------------------------------------------------

    /**
     * @notice Takes everything credited to the caller in `token` (for the treasury, the
     *         accrued fees too), paid to the caller.
     */
    function withdraw(address token) external nonreentrant {
        _withdraw(token, msg.sender);
    }

    /// @notice `withdraw`, paid to `to`: an account that cannot receive the token names another.
    function withdraw(address token, address to) external nonreentrant {
        _withdraw(token, to);
    }

    // -------------------------------------------------------------------------
    // Admin (owner)
    // -------------------------------------------------------------------------

    /// @notice Sets the fee of deals locked from now on; open deals keep theirs.
    function set_fee_bps(uint256 fee_bps) external only_owner {
        require(fee_bps <= MAX_FEE_BPS, "escrow: fee too high");
        _config = (_config & ~_FEE_BITS) | (fee_bps << _FEE_SHIFT);
        emit FeeBpsSet(fee_bps);
    }

    /// @notice Names the account that withdraws fees, those already accrued included.
    function set_treasury(address treasury) external only_owner {
        require(treasury != address(0), "escrow: zero treasury");
        _treasury = treasury;
        emit TreasurySet(treasury);
    }

    /// @notice Names the arbiter of deals locked from now on; open deals keep theirs.
    function set_arbiter(address arbiter) external only_owner {
        require(arbiter != address(0), "escrow: zero arbiter");
        _config = (_config & ~_ARBITER_BITS) | uint256(uint160(arbiter));
        emit ArbiterSet(arbiter);
    }

    /**
     * @notice Accepts `token` (address(0) = ETH) in escrows of at most `cap` base units; 0
     *         stops new locks of it. Open deals are not touched.
     */
    function set_token_cap(address token, uint256 cap) external only_owner {
        token_cap[token] = cap;
        emit TokenCapSet(token, cap);
    }

    /// @notice Stops new locks. Everything else, payouts included, goes on.
    function pause() external only_owner {
        uint256 config = _config;
        require(config >> _PAUSED_SHIFT == 0, "escrow: paused");
        _config = config | (1 << _PAUSED_SHIFT);
        emit Paused(msg.sender);
    }

    /// @notice Accepts new locks again.
    function unpause() external only_owner {
        uint256 config = _config;
        require(config >> _PAUSED_SHIFT != 0, "escrow: not paused");
        _config = config & ~(1 << _PAUSED_SHIFT);
        emit Unpaused(msg.sender);
    }

    /**
     * @notice Offers the ownership to `new_owner`, who takes it with `accept_ownership`; the
     *         zero address withdraws a pending offer.
     */
    function transfer_ownership(address new_owner) external only_owner {
        pending_owner = new_owner;
        emit OwnershipTransferStarted(owner, new_owner);
    }

    /// @notice The pending owner takes the ownership. The message is snekmate's `ownable_2step`.
    function accept_ownership() external {
        require(pending_owner == msg.sender, "ownable_2step: caller is not the new owner");
        _transfer_ownership(msg.sender);
    }

    // -------------------------------------------------------------------------
    // Views
    // -------------------------------------------------------------------------

    /// @notice 0 NONE, 1 LOCKED, 2 PAID, 3 RELEASED, 4 REFUNDED, 5 DISPUTED, 6 RESOLVED.
    function status(bytes32 trade_id) external view returns (uint8) {
        return uint8(_escrows[trade_id] & _STATUS_BITS);
    }

    /**
     * @notice The escrow's slot: keccak256(abi.encode(deal)) with its low byte replaced by the
     *         status; zero for an unused trade id.
     */
    function commitment(bytes32 trade_id) external view returns (bytes32) {
        return bytes32(_escrows[trade_id]);
    }

    function fee_bps() external view returns (uint256) {
        return (_config & _FEE_BITS) >> _FEE_SHIFT;
    }

    function arbiter() external view returns (address) {
        return address(uint160(_config & _ARBITER_BITS));
    }

    function paused() external view returns (bool) {
        return _config >> _PAUSED_SHIFT != 0;
    }

    function treasury() external view returns (address) {
        return _treasury;
    }

    /**
     * @notice What `account` can withdraw in `token`: payouts it could not take, and for the
     *         treasury the accrued fees.
     */
    function claimable(address token, address account) external view returns (uint256) {
        uint256 amount = _credited[token][account];
        if (account == _treasury) {
            amount += accrued_fees[token];
        }
        return amount;
    }

    /// @notice The EIP-712 domain (EIP-5267): name, version, chain id and this contract.
    function eip712Domain()
        external
        view
        returns (bytes1, string memory, string memory, uint256, address, bytes32, uint256[] memory)
    {
        return (0x0f, "Orrange Escrow", "1", block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    // -------------------------------------------------------------------------
    // Internal
    // -------------------------------------------------------------------------

    function _lock(
        bytes32 trade_id,
        address buyer,
        address token,
        uint256 amount,
        uint256 payment_window,
        uint256 eth_sent
    ) private {
        uint256 config = _config;
        require(config >> _PAUSED_SHIFT == 0, "escrow: paused");
        require(trade_id != bytes32(0), "escrow: zero trade id");
        require(_escrows[trade_id] == 0, "escrow: trade id used");
        require(buyer != address(0), "escrow: zero buyer");
        require(buyer != msg.sender, "escrow: buyer is seller");
        require(amount != 0, "escrow: zero amount");
        uint256 cap = token_cap[token];
        require(cap != 0, "escrow: token not accepted");
        require(amount <= cap, "escrow: amount over cap");
        require(payment_window >= MIN_WINDOW, "escrow: window too short");
        require(payment_window <= MAX_WINDOW, "escrow: window too long");

        uint256 received = _pull(token, amount, eth_sent);
        uint256 fee = received * ((config & _FEE_BITS) >> _FEE_SHIFT) / _BPS;
        address arbiter_ = address(uint160(config & _ARBITER_BITS));
        uint256 deadline = block.timestamp + payment_window;
        _escrows[trade_id] = _hash_deal(msg.sender, buyer, token, received, fee, arbiter_, deadline) | _LOCKED;
        emit Locked(trade_id, msg.sender, buyer, token, received, fee, arbiter_, deadline);
    }

    /// @dev Takes `amount` from the seller (`eth_sent` is the ETH sent along) and returns what arrived.
    function _pull(address token, uint256 amount, uint256 eth_sent) private returns (uint256) {
        if (token == _ETH) {
            require(eth_sent == amount, "escrow: wrong value");
            return amount;
        }
        require(eth_sent == 0, "escrow: value with token");
        uint256 before = IERC20(token).balanceOf(address(this));
        (bool success, bool accepted) =
            _call_token(token, abi.encodeCall(IERC20.transferFrom, (msg.sender, address(this), amount)));
        if (!success) {
            _bubble_revert();
        }
        require(accepted, "escrow: transfer failed");
        uint256 received = IERC20(token).balanceOf(address(this)) - before;
        require(received != 0, "escrow: nothing received");
        return received;
    }

    /// @dev Calls the token's `permit`, whatever it answers; true if it did not revert.
    function _try_permit(address token, uint256 amount, uint256 permit_deadline, uint8 v, bytes32 r, bytes32 s)
        private
        returns (bool permitted)
    {
        bytes memory data =
            abi.encodeCall(IERC20Permit.permit, (msg.sender, address(this), amount, permit_deadline, v, r, s));
        assembly ("memory-safe") {
            permitted := call(gas(), token, 0, add(data, 0x20), mload(data), 0, 0)
        }
    }

    function _mark_paid(bytes32 trade_id, Deal calldata deal, address caller) private {
        (uint256 hash, uint256 status_) = _check_deal(trade_id, deal);
        require(caller == deal.buyer, "escrow: not buyer");
        require(status_ == _LOCKED, "escrow: not locked");
        require(block.timestamp < deal.deadline, "escrow: payment window over");
        _escrows[trade_id] = hash | _PAID;
        emit Paid(trade_id);
    }

    function _release(bytes32 trade_id, Deal calldata deal, address caller) private {
        (uint256 hash, uint256 status_) = _check_deal(trade_id, deal);
        require(caller == deal.seller, "escrow: not seller");
        require(status_ == _LOCKED || status_ == _PAID, "escrow: not open");
        _escrows[trade_id] = hash | _RELEASED;
        _accrue_fee(deal.token, deal.fee);
        emit Released(trade_id, deal.amount - deal.fee, deal.fee);
        _pay(deal.token, deal.buyer, deal.amount - deal.fee);
    }

    function _cancel(bytes32 trade_id, Deal calldata deal, address caller) private {
        (uint256 hash, uint256 status_) = _check_deal(trade_id, deal);
        require(caller == deal.buyer, "escrow: not buyer");
        require(status_ == _LOCKED || status_ == _PAID, "escrow: not open");
        _escrows[trade_id] = hash | _REFUNDED;
        emit Refunded(trade_id, deal.amount);
        _pay(deal.token, deal.seller, deal.amount);
    }

    /**
     * @dev Returns the deal's hash (the escrow's slot without its status) and the escrow's
     *      status, once `deal` matches its commitment. A new status is stored as `hash | status`;
     *      the hash is taken once, straight from calldata.
     */
    function _check_deal(bytes32 trade_id, Deal calldata deal) private view returns (uint256 hash, uint256 status_) {
        uint256 slot = _escrows[trade_id];
        require(slot != 0, "escrow: unknown trade");
        hash = uint256(keccak256(abi.encode(deal))) & ~_STATUS_BITS;
        require(slot & ~_STATUS_BITS == hash, "escrow: wrong deal");
        status_ = slot & _STATUS_BITS;
    }

    /// @dev `Deal`'s fields in order: the hash of the deal they make, as `_check_deal` takes it.
    function _hash_deal(
        address seller,
        address buyer,
        address token,
        uint256 amount,
        uint256 fee,
        address arbiter_,
        uint256 deadline
    ) private pure returns (uint256) {
        return uint256(keccak256(abi.encode(seller, buyer, token, amount, fee, arbiter_, deadline))) & ~_STATUS_BITS;
    }

    function _accrue_fee(address token, uint256 fee) private {
        if (fee != 0) {
            accrued_fees[token] += fee;
        }
    }

    /**
     * @dev Pays `amount` to `to`, or credits it to `to`'s claimable balance when `to` cannot
     *      take it, so that the other party is never blocked.
     */
    function _pay(address token, address to, uint256 amount) private {
        if (amount == 0) {
            return;
        }
        bool sent = token == _ETH ? _send_eth(to, amount, _ETH_SEND_GAS) : _try_transfer(token, to, amount);
        if (!sent) {
            _credited[token][to] += amount;
            emit Credited(token, to, amount);
        }
    }

    function _withdraw(address token, address to) private {
        require(to != address(0), "escrow: zero recipient");
        uint256 amount = _credited[token][msg.sender];
        _credited[token][msg.sender] = 0;
        if (msg.sender == _treasury) {
            amount += accrued_fees[token];
            accrued_fees[token] = 0;
        }
        require(amount != 0, "escrow: nothing to withdraw");
        emit Withdrawn(token, msg.sender, amount);
        bool sent = token == _ETH ? _send_eth(to, amount, gasleft()) : _try_transfer(token, to, amount);
        require(sent, "escrow: transfer failed");
    }

    /// @dev Sends ETH without copying back what the recipient returns (it could return a lot).
    function _send_eth(address to, uint256 amount, uint256 gas_limit) private returns (bool sent) {
        assembly ("memory-safe") {
            sent := call(gas_limit, to, amount, 0, 0, 0, 0)
        }
    }

    function _try_transfer(address token, address to, uint256 amount) private returns (bool) {
        (bool success, bool accepted) = _call_token(token, abi.encodeCall(IERC20.transfer, (to, amount)));
        return success && accepted;
    }

    /**
     * @dev Calls `token` as Vyper's `raw_call(..., max_outsize=32)` does: at most 32 bytes of
     *      the answer are read back, and the token accepted unless they are all zero; no answer
     *      at all also accepts (tokens such as USDT return no bool).
     */
    function _call_token(address token, bytes memory data) private returns (bool success, bool accepted) {
        assembly ("memory-safe") {
            success := call(gas(), token, 0, add(data, 0x20), mload(data), 0, 0x20)
            let size := returndatasize()
            if gt(size, 0x20) { size := 0x20 }
            accepted := or(iszero(size), iszero(iszero(shr(shl(3, sub(0x20, size)), mload(0)))))
        }
    }

    /// @dev Reverts with the data the last call reverted with, as a failed Vyper `raw_call` does.
    function _bubble_revert() private pure {
        assembly ("memory-safe") {
            let data := mload(0x40)
            returndatacopy(data, 0, returndatasize())
            revert(data, returndatasize())
        }
    }

    function _check_signature(
        address signer,
        bytes32 typehash,
        bytes32 trade_id,
        uint256 expiry,
        bytes calldata signature
    ) private view {
        // Escrow.vy's ABI decoder refuses a longer signature before anything else, with no reason.
        require(signature.length <= _SIGNATURE_MAX);
        require(block.timestamp < expiry, "escrow: signature expired");
        bytes32 digest = keccak256(
            abi.encodePacked("\x19\x01", _domain_separator(), keccak256(abi.encode(typehash, trade_id, expiry)))
        );
        if (signer.code.length != 0) {
            require(_is_valid_erc1271_signature(signer, digest, signature), "escrow: invalid signature");
        } else {
            require(signature.length == 65, "escrow: invalid signature");
            require(_recover(digest, signature) == signer, "escrow: invalid signature");
        }
    }

    /// @dev The wallet's answer must start with the ERC-1271 magic value; at most 32 bytes are read.
    function _is_valid_erc1271_signature(address wallet, bytes32 digest, bytes calldata signature)
        private
        view
        returns (bool valid)
    {
        bytes memory data = abi.encodeCall(IERC1271.isValidSignature, (digest, signature));
        bytes32 magic = bytes32(_ERC1271_MAGIC);
        assembly ("memory-safe") {
            let success := staticcall(gas(), wallet, add(data, 0x20), mload(data), 0, 0x20)
            valid := and(success, and(iszero(lt(returndatasize(), 0x20)), eq(mload(0), magic)))
        }
    }

    /// @dev snekmate's `ecdsa._recover_sig` for a 65-byte signature, with its revert reasons.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address signer) {
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        require(uint256(s) <= _MALLEABILITY_THRESHOLD, "ecdsa: invalid signature `s` value");
        signer = ecrecover(digest, v, r, s);
        require(signer != address(0), "ecdsa: invalid signature");
    }

    function _domain_separator() private view returns (bytes32) {
        if (address(this) == _CACHED_SELF && block.chainid == _CACHED_CHAIN_ID) {
            return _CACHED_DOMAIN_SEPARATOR;
        }
        return _build_domain_separator();
    }

    function _build_domain_separator() private view returns (bytes32) {
        return keccak256(abi.encode(_DOMAIN_TYPEHASH, _HASHED_NAME, _HASHED_VERSION, block.chainid, address(this)));
    }

    function _transfer_ownership(address new_owner) private {
        pending_owner = address(0);
        address previous_owner = owner;
        owner = new_owner;
        emit OwnershipTransferred(previous_owner, new_owner);
    }
}

/// @dev The ERC-20 calls the escrow makes; transfers go through `_call_token` (see there).
interface IERC20 {
    function balanceOf(address account) external view returns (uint256);
    function allowance(address owner, address spender) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

interface IERC20Permit {
    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external;
}

interface IERC1271 {
    function isValidSignature(bytes32 digest, bytes calldata signature) external view returns (bytes4);
}
