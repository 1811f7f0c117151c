//! The token index: every ERC-20 and ERC-721 `Transfer` event of the chain, folded into each
//! token contract's balances, holders ranked by balance, the tokens each holder owns and the
//! transfers in order, so an explorer's holder list and transfer list are range reads instead
//! of a fold over the contract's whole event history.
//!
//! One keyspace ([`Index::Tokens`]), its records told apart by their first byte:
//!
//! | record | key | value |
//! |---|---|---|
//! | stats | 0 ‖ contract | standard (1) ‖ holders (8, BE) ‖ transfers (8, BE) |
//! | balance | 1 ‖ contract ‖ holder | balance (32, BE) |
//! | rank | 2 ‖ contract ‖ balance (32, BE) ‖ holder | () |
//! | owned | 3 ‖ contract ‖ holder ‖ token id (32) | () (ERC-721 only) |
//! | transfer | 4 ‖ contract ‖ height (8) ‖ position (4) ‖ event (2) ‖ log index (4) | () |
//!
//! The two standards' events share a signature and differ in what they index: ERC-20's
//! `Transfer(address indexed, address indexed, uint256)` has three topics and the amount in
//! its data, ERC-721's four topics, the token id last. Any contract that emits either is
//! indexed; one whose events do not add up (a debit of more than is held) saturates at zero
//! rather than failing the block's indexing.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use alloy_primitives::U256;
use consortia_crypto::{Address, Hash};
use consortia_types::{Event, Height};

use crate::index::{Index, Indexes};
use crate::{LogLocation, Result, StorageError};

/// keccak256("Transfer(address,address,uint256)").
const TRANSFER_TOPIC: [u8; 32] = [
    0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b, 0x69, 0xc2, 0xb0, 0x68, 0xfc, 0x37, 0x8d, 0xaa,
    0x95, 0x2b, 0xa7, 0xf1, 0x63, 0xc4, 0xa1, 0x16, 0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef,
];

/// The zero address: the `from` of a mint, the `to` of a burn.
const ZERO: Address = Address([0; 20]);

const STATS: u8 = 0;
const BALANCE: u8 = 1;
const RANK: u8 = 2;
const OWNED: u8 = 3;
const TRANSFER: u8 = 4;

/// The token standard a contract's `Transfer` events follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStandard {
    /// Fungible: amounts.
    Erc20,
    /// Non-fungible: token ids, one per transfer.
    Erc721,
}

/// What the index holds about one token contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenStats {
    /// The standard of its first transfer.
    pub standard: TokenStandard,
    /// Accounts with a balance above zero.
    pub holders: u64,
    /// Transfers ever (mints and burns included).
    pub transfers: u64,
}

/// One holder of a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenHolder {
    pub address: Address,
    /// Units (ERC-20) or tokens (ERC-721) held.
    pub balance: U256,
    /// The token ids held (ERC-721), ascending, at most the number asked for.
    pub tokens: Vec<U256>,
}

/// One transfer: where its event is, and the event's index in its block (`logIndex`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenTransferAt {
    pub at: LogLocation,
    pub log_index: u32,
}

/// What one `Transfer` event moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Moved {
    Amount(U256),
    Token(U256),
}

/// One `Transfer` event of a block, as the index folds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Transfer {
    contract: Address,
    from: Address,
    to: Address,
    moved: Moved,
    at: TokenTransferAt,
}

impl Transfer {
    /// The transfer `event` records, if it is an ERC-20 or ERC-721 `Transfer`.
    pub(crate) fn of(event: &Event, at: TokenTransferAt) -> Option<Self> {
        let word = |h: &Hash| Address::from_slice(&h.0[12..]);
        let moved = match event.topics.as_slice() {
            [t, _, _] if t.0 == TRANSFER_TOPIC && event.data.len() == 32 => {
                Moved::Amount(U256::from_be_slice(&event.data))
            }
            [t, _, _, id] if t.0 == TRANSFER_TOPIC && event.data.is_empty() => {
                Moved::Token(U256::from_be_bytes(id.0))
            }
            _ => return None,
        };
        Some(Transfer {
            contract: event.contract,
            from: word(&event.topics[1]),
            to: word(&event.topics[2]),
            moved,
            at,
        })
    }

    pub(crate) fn height(&self) -> Height {
        self.at.at.height
    }

    /// The accounts it names (the zero address of a mint or burn is not an account).
    pub(crate) fn parties(&self) -> impl Iterator<Item = Address> {
        [self.from, self.to].into_iter().filter(|a| *a != ZERO)
    }
}

fn key(record: u8, contract: &Address, rest: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 20 + rest.iter().map(|r| r.len()).sum::<usize>());
    out.push(record);
    out.extend_from_slice(&contract.0);
    for r in rest {
        out.extend_from_slice(r);
    }
    out
}

fn transfer_key(contract: &Address, at: LogLocation, log_index: u32) -> Vec<u8> {
    let (height, position) = (at.height.to_be_bytes(), at.position.to_be_bytes());
    let (event, log_index) = (at.event.to_be_bytes(), log_index.to_be_bytes());
    key(TRANSFER, contract, &[&height, &position, &event, &log_index])
}

fn corrupt(detail: impl ToString) -> StorageError {
    StorageError::Corrupt { table: "tokens", detail: detail.to_string() }
}

fn encode_stats(stats: &TokenStats) -> Vec<u8> {
    let mut out = vec![match stats.standard {
        TokenStandard::Erc20 => 20,
        TokenStandard::Erc721 => 72,
    }];
    out.extend_from_slice(&stats.holders.to_be_bytes());
    out.extend_from_slice(&stats.transfers.to_be_bytes());
    out
}

fn decode_stats(raw: &[u8]) -> Result<TokenStats> {
    let [standard, rest @ ..] = raw else { return Err(corrupt("empty stats")) };
    let standard = match standard {
        20 => TokenStandard::Erc20,
        72 => TokenStandard::Erc721,
        other => return Err(corrupt(format!("unknown standard {other}"))),
    };
    let (holders, transfers) = rest.split_at_checked(8).ok_or_else(|| corrupt("short stats"))?;
    let number = |b: &[u8]| b.try_into().map(u64::from_be_bytes).map_err(|_| corrupt("bad stats"));
    Ok(TokenStats { standard, holders: number(holders)?, transfers: number(transfers)? })
}

/// The writes (`None`: a removal) that fold `transfers` into the token index, in the order they
/// happened, on top of what `indexes` holds. One write per key: the last one wins.
pub(crate) fn fold(
    indexes: &Indexes,
    transfers: Vec<Transfer>,
) -> Result<BTreeMap<Vec<u8>, Option<Vec<u8>>>> {
    let mut ops = BTreeMap::new();
    let mut stats: HashMap<Address, TokenStats> = HashMap::new();
    // (contract, holder) → (balance before the batch, balance now).
    let mut balances: HashMap<(Address, Address), (U256, U256)> = HashMap::new();
    for t in transfers {
        let standard = match t.moved {
            Moved::Amount(_) => TokenStandard::Erc20,
            Moved::Token(_) => TokenStandard::Erc721,
        };
        let s = match stats.entry(t.contract) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let held = indexes.get(Index::Tokens, &key(STATS, &t.contract, &[]))?;
                let held = held.as_deref().map(decode_stats).transpose()?;
                e.insert(held.unwrap_or(TokenStats { standard, holders: 0, transfers: 0 }))
            }
        };
        s.transfers += 1;
        ops.insert(transfer_key(&t.contract, t.at.at, t.at.log_index), Some(vec![]));
        let amount = match t.moved {
            Moved::Amount(amount) => amount,
            Moved::Token(id) => {
                let id = id.to_be_bytes::<32>();
                if t.from != ZERO {
                    ops.insert(key(OWNED, &t.contract, &[&t.from.0, &id]), None);
                }
                if t.to != ZERO {
                    ops.insert(key(OWNED, &t.contract, &[&t.to.0, &id]), Some(vec![]));
                }
                U256::from(1)
            }
        };
        for (holder, credit) in [(t.from, false), (t.to, true)] {
            if holder == ZERO {
                continue;
            }
            let entry = match balances.entry((t.contract, holder)) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let held = balance(indexes, &t.contract, &holder)?;
                    e.insert((held, held))
                }
            };
            entry.1 = if credit {
                entry.1.saturating_add(amount)
            } else {
                entry.1.saturating_sub(amount)
            };
        }
    }
    for ((contract, holder), (before, now)) in balances {
        if before == now {
            continue;
        }
        let s = stats.get_mut(&contract).ok_or_else(|| corrupt("a balance without stats"))?;
        if !before.is_zero() {
            ops.insert(key(RANK, &contract, &[&before.to_be_bytes::<32>(), &holder.0]), None);
            s.holders = s.holders.saturating_sub(1);
        }
        let balance_key = key(BALANCE, &contract, &[&holder.0]);
        if now.is_zero() {
            ops.insert(balance_key, None);
        } else {
            let now = now.to_be_bytes::<32>();
            ops.insert(key(RANK, &contract, &[&now, &holder.0]), Some(vec![]));
            ops.insert(balance_key, Some(now.to_vec()));
            s.holders += 1;
        }
    }
    for (contract, s) in stats {
        ops.insert(key(STATS, &contract, &[]), Some(encode_stats(&s)));
    }
    Ok(ops)
}

fn balance(indexes: &Indexes, contract: &Address, holder: &Address) -> Result<U256> {
    match indexes.get(Index::Tokens, &key(BALANCE, contract, &[&holder.0]))? {
        None => Ok(U256::ZERO),
        Some(raw) if raw.len() == 32 => Ok(U256::from_be_slice(&raw)),
        Some(_) => Err(corrupt("a balance is not 32 bytes")),
    }
}

/// What the index holds about `contract`; `None` if it never emitted a transfer.
pub(crate) fn stats(indexes: &Indexes, contract: &Address) -> Result<Option<TokenStats>> {
    indexes.get(Index::Tokens, &key(STATS, contract, &[]))?.as_deref().map(decode_stats).transpose()
}

/// `contract`'s holders, largest balance first (ties: higher address first), starting after
/// `after` (a balance and holder from an earlier page), at most `limit`, each with at most
/// `tokens` of the token ids it owns.
pub(crate) fn holders(
    indexes: &Indexes,
    contract: &Address,
    after: Option<(U256, Address)>,
    limit: usize,
    tokens: usize,
) -> Result<Vec<TokenHolder>> {
    let from = key(RANK, contract, &[]);
    let to = match after {
        Some((balance, holder)) => key(RANK, contract, &[&balance.to_be_bytes::<32>(), &holder.0]),
        None => key(RANK, contract, &[&[0xff; 52]]),
    };
    let mut out = Vec::new();
    for k in indexes.keys(Index::Tokens, &from, &to, true, limit + 1)? {
        let [balance, holder] = [&k.get(21..53), &k.get(53..73)];
        let (Some(balance), Some(holder), 73) = (balance, holder, k.len()) else {
            return Err(corrupt("a rank key is not 73 bytes"));
        };
        let (balance, address) = (U256::from_be_slice(balance), Address::from_slice(holder));
        if after == Some((balance, address)) {
            continue;
        }
        let owned = if tokens == 0 {
            Vec::new()
        } else {
            let first = key(OWNED, contract, &[&address.0]);
            let last = key(OWNED, contract, &[&address.0, &[0xff; 32]]);
            indexes
                .keys(Index::Tokens, &first, &last, false, tokens)?
                .iter()
                .map(|k| k.get(41..73).map(U256::from_be_slice).ok_or_else(|| corrupt("short key")))
                .collect::<Result<_>>()?
        };
        out.push(TokenHolder { address, balance, tokens: owned });
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// `contract`'s transfers, newest first, from just before `before`, at most `limit`.
pub(crate) fn transfers(
    indexes: &Indexes,
    contract: &Address,
    before: Option<LogLocation>,
    limit: usize,
) -> Result<Vec<TokenTransferAt>> {
    let from = key(TRANSFER, contract, &[]);
    let to = match before {
        Some(b) => transfer_key(contract, b, u32::MAX),
        None => key(TRANSFER, contract, &[&[0xff; 18]]),
    };
    let mut out = Vec::new();
    for k in indexes.keys(Index::Tokens, &from, &to, true, limit + 1)? {
        let bytes: [u8; 39] =
            k.try_into().map_err(|_| corrupt("a transfer key is not 39 bytes"))?;
        let field = |r: std::ops::Range<usize>| {
            let mut b = [0u8; 8];
            b[8 - r.len()..].copy_from_slice(&bytes[r]);
            u64::from_be_bytes(b)
        };
        let at = LogLocation {
            height: field(21..29),
            position: field(29..33) as u32,
            event: field(33..35) as u16,
        };
        if Some(at) == before {
            continue;
        }
        out.push(TokenTransferAt { at, log_index: field(35..39) as u32 });
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: Address = Address([0x70; 20]);
    const A: Address = Address([0xaa; 20]);
    const B: Address = Address([0xbb; 20]);

    fn word(a: Address) -> Hash {
        let mut w = [0u8; 32];
        w[12..].copy_from_slice(&a.0);
        Hash(w)
    }

    fn erc20(from: Address, to: Address, amount: u64) -> Event {
        Event {
            contract: TOKEN,
            topics: vec![Hash(TRANSFER_TOPIC), word(from), word(to)],
            data: U256::from(amount).to_be_bytes::<32>().to_vec(),
        }
    }

    fn erc721(from: Address, to: Address, id: u64) -> Event {
        let id = Hash(U256::from(id).to_be_bytes::<32>());
        Event {
            contract: TOKEN,
            topics: vec![Hash(TRANSFER_TOPIC), word(from), word(to), id],
            data: vec![],
        }
    }

    /// Indexes `events` as one batch each, in order (one per block from height 1).
    fn indexed(batches: &[Vec<Event>]) -> Indexes {
        let indexes = Indexes::in_memory();
        for (i, events) in batches.iter().enumerate() {
            let mut batch = crate::index::IndexBatch::default();
            for (n, event) in events.iter().enumerate() {
                let at = LogLocation { height: i as u64 + 1, position: n as u32, event: 0 };
                let at = TokenTransferAt { at, log_index: n as u32 };
                if let Some(t) = Transfer::of(event, at) {
                    batch.transfer(t);
                }
            }
            indexes.write(batch, i as u64 + 1).unwrap();
        }
        indexes
    }

    fn held(indexes: &Indexes) -> Vec<(Address, u64, Vec<u64>)> {
        let holders = holders(indexes, &TOKEN, None, 10, 10).unwrap();
        holders
            .into_iter()
            .map(|h| (h.address, h.balance.to(), h.tokens.iter().map(|t| t.to()).collect()))
            .collect()
    }

    #[test]
    fn the_transfer_topic_is_the_keccak_of_the_erc20_and_erc721_signature() {
        let topic = consortia_crypto::keccak256(b"Transfer(address,address,uint256)");
        assert_eq!(topic.0, TRANSFER_TOPIC);
    }

    #[test]
    fn an_nft_moves_to_its_new_owner_and_a_burn_drops_the_last_holder() {
        let indexes = indexed(&[
            vec![erc721(ZERO, A, 1), erc721(ZERO, A, 2)],
            vec![erc721(A, B, 1)],
            vec![erc721(A, ZERO, 2)],
        ]);
        assert_eq!(held(&indexes), vec![(B, 1, vec![1])], "A gave 1 away and burned 2");
        let stats = stats(&indexes, &TOKEN).unwrap().unwrap();
        assert_eq!(stats, TokenStats { standard: TokenStandard::Erc721, holders: 1, transfers: 4 });
    }

    #[test]
    fn moves_within_one_batch_add_up_as_they_happened() {
        let indexes = indexed(&[vec![
            erc721(ZERO, A, 7),
            erc721(A, B, 7),
            erc721(B, A, 7),
            erc721(ZERO, B, 8),
        ]]);
        assert_eq!(held(&indexes), vec![(B, 1, vec![8]), (A, 1, vec![7])]);
        assert_eq!(stats(&indexes, &TOKEN).unwrap().unwrap().holders, 2);
    }

    #[test]
    fn a_debit_above_the_balance_stops_at_zero_without_failing_the_block() {
        let indexes = indexed(&[vec![erc20(ZERO, A, 5)], vec![erc20(A, B, 9)]]);
        assert_eq!(held(&indexes), vec![(B, 9, vec![])], "A's 5 went to zero, not below");
    }

    #[test]
    fn only_erc20_and_erc721_shaped_transfers_are_indexed() {
        let mut short_data = erc20(ZERO, A, 5);
        short_data.data.truncate(31);
        let mut other_topic = erc20(ZERO, A, 5);
        other_topic.topics[0] = Hash([1; 32]);
        let mut nft_with_data = erc721(ZERO, A, 1);
        nft_with_data.data = vec![0; 32];
        let indexes = indexed(&[vec![short_data, other_topic, nft_with_data]]);
        assert_eq!(stats(&indexes, &TOKEN).unwrap(), None);
        assert!(held(&indexes).is_empty());
    }
}
