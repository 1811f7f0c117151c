//! Accounts and fees on platform chains: an organization's operators fund wallets from its
//! own account (funded at genesis with [`MEMBER_BALANCE`]), so users of wallets and web3 tools
//! can pay the chain's base fee.

use consortia_api::platform::{ChainView, FaucetRequest, FaucetView, TxOutcome, TxResult};

use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};

/// What a faucet request sends unless it names an amount: 1 unit of 10^18 wei.
pub const DEFAULT_FAUCET_AMOUNT: u128 = 1_000_000_000_000_000_000;

/// What an organization invited onto a running chain gets from its inviter's account, so it
/// can pay the gas of its governance votes and gateway calls: 10^6 units of 10^18 wei.
pub const NEW_MEMBER_GRANT: u128 = 1_000_000 * DEFAULT_FAUCET_AMOUNT;

impl Platform {
    /// Sends `amount` wei from `org`'s account to `to` and waits until it is committed.
    async fn grant(
        &self,
        chain: &ChainView,
        org: &str,
        to: alloy_primitives::Address,
        amount: u128,
    ) -> Result<TxOutcome> {
        let (outcome, _) = self.transact(chain, org, Some(to), amount, vec![]).await?;
        if outcome.status != TxResult::Success {
            return Err(Error::invalid(
                "transfer_failed",
                format!("the transfer {} failed on chain", outcome.tx_hash),
            ));
        }
        Ok(outcome)
    }

    /// On a chain that charges gas, funds a newly invited organization's account from its
    /// inviter's ([`NEW_MEMBER_GRANT`]); on a chain with free gas nothing needs funds.
    pub(crate) async fn fund_new_member(
        &self,
        chain: &ChainView,
        inviter: &str,
        member: consortia_crypto::Address,
    ) -> Result<()> {
        if super::gateway::base_fee(chain) == 0 {
            return Ok(());
        }
        let to = alloy_primitives::Address::from(member.0);
        self.grant(chain, inviter, to, NEW_MEMBER_GRANT).await.map(|_| ())
    }

    /// Sends `amount` wei (default [`DEFAULT_FAUCET_AMOUNT`]) from the organization's own
    /// account to `address`, and waits until it is committed (`chain:faucet`, audited as
    /// every mutating call).
    pub async fn faucet(
        &self,
        caller: &Caller,
        chain: &str,
        req: &FaucetRequest,
    ) -> Result<FaucetView> {
        let to = alloy_primitives::Address::parse_checksummed(&req.address, None)
            .or_else(|_| req.address.parse::<alloy_primitives::Address>())
            .map_err(|e| {
                Error::invalid("bad_address", format!("address `{}`: {e}", req.address))
            })?;
        let amount = match &req.amount {
            Some(a) => a.parse::<u128>().map_err(|_| {
                Error::invalid("bad_amount", format!("amount `{a}` is not a decimal wei amount"))
            })?,
            None => DEFAULT_FAUCET_AMOUNT,
        };
        let chain = self.readable_chain(caller, chain).await?;
        let org = self
            .acting_on_chain(caller, &chain, Some(&req.org_id), "chain:faucet", "accounts")
            .await?;
        let from = self.org_key(&org).await?.public_key().address().to_checksum_hex();
        let outcome = self.grant(&chain, &org, to, amount).await?;
        Ok(FaucetView {
            tx_hash: outcome.tx_hash,
            height: outcome.height as i64,
            from,
            to: to.to_checksum(None),
            amount: amount.to_string(),
        })
    }
}
