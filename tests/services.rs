//! Business services on the demo chain `consortia up` makes: digital assets (ERC-20 and
//! ERC-721 contracts the platform deploys for an issuer) operated through REST and through
//! raw web3 transactions, their holders and transfers, clear refusals of bad requests, and the
//! shared ledger between three member organizations.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod demo;

use std::time::{Duration, Instant};

use alloy_primitives::{Address, TxKind, U256};
use alloy_sol_types::{SolCall, sol};
use consortia_api::PlatformClient;
use consortia_api::platform::*;
use consortia_crypto::{PrivateKey, Scheme};
use consortia_types::EthTx;
use demo::Demo;
use serde_json::{Value, json};

const CAROL: &str = "0x00000000000000000000000000000000000000ca";

sol! {
    function transfer(address to, uint256 value) external returns (bool);
    function balanceOf(address owner) external view returns (uint256);
    function ownerOf(uint256 tokenId) external view returns (address);
}

/// The demo chain and the administrator's organization on it.
struct Services {
    demo: Demo,
    chain: ChainView,
    org: String,
}

impl Services {
    async fn up() -> Services {
        let demo = Demo::up().await;
        let chain = demo.admin.chains().await.unwrap().remove(0);
        let org = chain.orgs[0].clone();
        Services { demo, chain, org }
    }

    async fn issue(&self, name: &str, kind: AssetKind) -> AssetView {
        let request = IssueAssetRequest {
            name: name.into(),
            kind,
            display_name: Some(format!("{name} token")),
            symbol: name.to_ascii_uppercase(),
            decimals: (kind == AssetKind::Fungible).then_some(2),
            metadata_uri: format!("https://example.invalid/{name}.json"),
            org_id: None,
        };
        self.demo.admin.issue_asset(&self.chain.id, &request).await.unwrap()
    }

    async fn act(
        &self,
        asset: &str,
        action: AssetAction,
        request: AssetActionRequest,
    ) -> consortia_api::ClientResult<CallView> {
        self.demo.admin.asset_action(&self.chain.id, asset, action, &request).await
    }

    async fn rpc(&self, method: &str, params: Value) -> Value {
        let url = &self.chain.node_urls()[0];
        demo::node(url, &self.demo.token).rpc(method, params).await.unwrap()
    }

    /// A view function's answer at the latest block, read straight from a node.
    async fn eth_call<C: SolCall>(&self, to: &str, call: C) -> C::Return {
        let request = json!({"to": to, "data": format!("0x{}", hex::encode(call.abi_encode()))});
        let out = self.rpc("eth_call", json!([request, "latest"])).await;
        C::abi_decode_returns(&hex::decode(out.as_str().unwrap().trim_start_matches("0x")).unwrap())
            .unwrap()
    }

    /// A new secp256k1 account, holding gas money from the organization's faucet.
    async fn web3_account(&self) -> PrivateKey {
        let key = PrivateKey::generate(Scheme::Secp256k1);
        let faucet = FaucetRequest {
            org_id: self.org.clone(),
            address: key.public_key().address().to_checksum_hex(),
            amount: None,
        };
        self.demo.admin.faucet(&self.chain.id, &faucet).await.unwrap();
        key
    }

    /// Signs `input` to `to` as a wallet would (EIP-1559) and sends it with
    /// `eth_sendRawTransaction`; the receipt's status.
    async fn web3_send(&self, key: &PrivateKey, to: &str, input: Vec<u8>) -> bool {
        let from = key.public_key().address().to_checksum_hex();
        let nonce = self.rpc("eth_getTransactionCount", json!([from, "pending"])).await;
        let nonce = u64::from_str_radix(nonce.as_str().unwrap().trim_start_matches("0x"), 16);
        let body = alloy_consensus::TxEip1559 {
            chain_id: self.chain.chain_id as u64,
            nonce: nonce.unwrap(),
            gas_limit: 200_000,
            max_fee_per_gas: 10,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(to.parse().unwrap()),
            input: input.into(),
            ..Default::default()
        };
        let tx = EthTx::sign(body, key).unwrap();
        let raw = format!("0x{}", hex::encode(tx.raw()));
        let hash = self.rpc("eth_sendRawTransaction", json!([raw])).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let receipt = self.rpc("eth_getTransactionReceipt", json!([hash])).await;
            if !receipt.is_null() {
                return receipt["status"] == "0x1";
            }
            assert!(Instant::now() < deadline, "no receipt for {hash}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn transfer_of(to: &str, amount: u64) -> AssetActionRequest {
    AssetActionRequest {
        to: Some(to.into()),
        amount: Some(amount.to_string()),
        ..Default::default()
    }
}

fn succeeded(view: consortia_api::ClientResult<CallView>) -> CallView {
    let view = view.unwrap();
    assert_eq!(view.outcome.as_ref().unwrap().status, TxResult::Success, "{view:?}");
    view
}

fn refused<T: std::fmt::Debug>(result: consortia_api::ClientResult<T>) -> (u16, String) {
    let e = result.expect_err("refused");
    (e.status().unwrap_or(0), e.to_string())
}

/// The holders' balances by address.
fn balances(ledger: &AssetLedgerView) -> Vec<(String, String)> {
    ledger.holders.iter().map(|h| (h.address.clone(), h.balance.clone())).collect()
}

#[tokio::test]
async fn a_fungible_asset_is_issued_moved_frozen_and_burned_through_rest_and_web3() {
    let s = Services::up().await;
    let asset = s.issue("cnyt", AssetKind::Fungible).await;
    assert_eq!(
        (asset.symbol.as_str(), asset.decimals, asset.total_supply.as_str()),
        ("CNYT", Some(2), "0")
    );
    let issuer = asset.issuer.clone();
    let wallet = s.web3_account().await;
    let holder = wallet.public_key().address().to_checksum_hex();

    succeeded(s.act("cnyt", AssetAction::Issue, transfer_of(&issuer, 10_000)).await);
    succeeded(s.act("cnyt", AssetAction::Transfer, transfer_of(&holder, 2_500)).await);
    // The holder moves its units with a raw web3 transaction, as any wallet would.
    let input = transferCall { to: CAROL.parse().unwrap(), value: U256::from(500) }.abi_encode();
    assert!(s.web3_send(&wallet, &asset.address, input.clone()).await);
    let burn = AssetActionRequest { amount: Some("1000".into()), ..Default::default() };
    succeeded(s.act("cnyt", AssetAction::Burn, burn).await);

    // Frozen, the holder can send nothing, by REST's checks or by web3; unfrozen, it can.
    let freeze = AssetActionRequest { account: Some(holder.clone()), ..Default::default() };
    succeeded(s.act("cnyt", AssetAction::Freeze, freeze.clone()).await);
    assert!(!s.web3_send(&wallet, &asset.address, input.clone()).await, "a frozen sender");
    let to_frozen = refused(s.act("cnyt", AssetAction::Transfer, transfer_of(&holder, 1)).await);
    assert_eq!(to_frozen.0, 400);
    assert!(to_frozen.1.contains("frozen"), "{}", to_frozen.1);
    let while_frozen = s
        .demo
        .admin
        .asset_holders(&s.chain.id, "cnyt", &AssetLedgerQuery::default())
        .await
        .unwrap();
    let frozen: Vec<_> = while_frozen.holders.iter().filter(|h| h.frozen).collect();
    assert_eq!(frozen.len(), 1, "{:?}", while_frozen.holders);
    assert_eq!(frozen[0].address, holder);
    succeeded(s.act("cnyt", AssetAction::Unfreeze, freeze).await);
    assert!(s.web3_send(&wallet, &asset.address, input).await);

    // What REST shows, what the contract answers and what the transfers add up to agree.
    let asset = s.demo.admin.asset(&s.chain.id, "cnyt").await.unwrap();
    assert_eq!(asset.total_supply, "9000");
    let ledger = s
        .demo
        .admin
        .asset_holders(&s.chain.id, "cnyt", &AssetLedgerQuery::default())
        .await
        .unwrap();
    let carol = CAROL.parse::<Address>().unwrap().to_checksum(None);
    assert_eq!(
        balances(&ledger),
        vec![
            (issuer.clone(), "6500".into()),
            (holder.clone(), "1500".into()),
            (carol, "1000".into())
        ]
    );
    assert_eq!(ledger.holders[0].label.as_deref(), Some(s.org.as_str()), "the issuer's account");
    for h in &ledger.holders {
        let on_chain =
            s.eth_call(&asset.address, balanceOfCall { owner: h.address.parse().unwrap() }).await;
        assert_eq!(on_chain.to_string(), h.balance, "{}", h.address);
    }
    // issue, transfer, web3 transfer, burn, web3 transfer (the frozen one failed: no event)
    assert_eq!(ledger.transfer_count, 5);
    assert_eq!(ledger.holder_count, 3);
    assert!(ledger.holders.iter().all(|h| !h.frozen), "unfrozen again");
    // A page of one holder at a time, by cursor: the same three, in the same order.
    let mut paged = vec![];
    let mut query = AssetLedgerQuery { holders: Some(1), ..Default::default() };
    loop {
        let page = s.demo.admin.asset_holders(&s.chain.id, "cnyt", &query).await.unwrap();
        paged.extend(balances(&page));
        match page.holders_next {
            Some(next) => query.holders_after = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, balances(&ledger));
    assert_eq!(ledger.transfers[0].from, holder, "newest first");
}

#[tokio::test]
async fn a_non_fungible_asset_moves_between_owners_and_its_views_agree() {
    let s = Services::up().await;
    let asset = s.issue("deeds", AssetKind::NonFungible).await;
    assert_eq!(asset.decimals, None);
    let issue = |id: u64| AssetActionRequest {
        to: Some(asset.issuer.clone()),
        token_id: Some(id.to_string()),
        uri: Some(format!("ipfs://deed-{id}")),
        ..Default::default()
    };
    for id in [1, 2, 3] {
        succeeded(s.act("deeds", AssetAction::Issue, issue(id)).await);
    }
    let again = refused(s.act("deeds", AssetAction::Issue, issue(2)).await);
    assert!(again.1.contains("exists already"), "{}", again.1);
    let give = AssetActionRequest {
        to: Some(CAROL.into()),
        token_id: Some("2".into()),
        ..Default::default()
    };
    succeeded(s.act("deeds", AssetAction::Transfer, give).await);
    let burn = AssetActionRequest { token_id: Some("3".into()), ..Default::default() };
    succeeded(s.act("deeds", AssetAction::Burn, burn).await);

    let ledger = s
        .demo
        .admin
        .asset_holders(&s.chain.id, "deeds", &AssetLedgerQuery::default())
        .await
        .unwrap();
    let mut tokens: Vec<(String, Vec<String>)> =
        ledger.holders.iter().map(|h| (h.address.to_ascii_lowercase(), h.tokens.clone())).collect();
    tokens.sort();
    let mut expected = vec![
        (asset.issuer.to_ascii_lowercase(), vec!["1".to_owned()]),
        (CAROL.to_owned(), vec!["2".to_owned()]),
    ];
    expected.sort();
    assert_eq!(tokens, expected);
    let owner = s.eth_call(&asset.address, ownerOfCall { tokenId: U256::from(2) }).await;
    assert_eq!(owner, CAROL.parse::<Address>().unwrap());
    assert_eq!(s.demo.admin.asset(&s.chain.id, "deeds").await.unwrap().total_supply, "2");
    let uri = s
        .demo
        .admin
        .call(
            &s.chain.id,
            "deeds",
            &CallRequest {
                function: "tokenURI".into(),
                args: vec!["1".into()],
                org_id: None,
                key: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(uri.outputs.unwrap()[0]["value"], "ipfs://deed-1");
}

#[tokio::test]
async fn bad_asset_requests_get_clear_refusals() {
    let s = Services::up().await;
    let asset = s.issue("pts", AssetKind::Fungible).await;
    succeeded(s.act("pts", AssetAction::Issue, transfer_of(&asset.issuer, 100)).await);

    let overdraft = refused(s.act("pts", AssetAction::Transfer, transfer_of(CAROL, 101)).await);
    assert_eq!(overdraft.0, 400);
    assert!(overdraft.1.contains("exceeds the balance"), "{}", overdraft.1);
    let missing = AssetActionRequest { amount: Some("1".into()), ..Default::default() };
    let missing = refused(s.act("pts", AssetAction::Transfer, missing).await);
    assert!(missing.1.contains("`to`"), "{}", missing.1);
    let not_a_number = refused(
        s.act(
            "pts",
            AssetAction::Transfer,
            AssetActionRequest { amount: Some("ten".into()), ..transfer_of(CAROL, 0) },
        )
        .await,
    );
    assert_eq!(not_a_number.0, 400, "{}", not_a_number.1);
    let unknown = refused(s.act("ghost", AssetAction::Transfer, transfer_of(CAROL, 1)).await);
    assert_eq!(unknown.0, 404);
    let taken = IssueAssetRequest {
        name: "pts".into(),
        kind: AssetKind::Fungible,
        display_name: None,
        symbol: "PTS".into(),
        decimals: None,
        metadata_uri: String::new(),
        org_id: None,
    };
    assert_eq!(refused(s.demo.admin.issue_asset(&s.chain.id, &taken).await).0, 409);
    let bad_symbol =
        IssueAssetRequest { name: "other".into(), symbol: "no spaces!".into(), ..taken.clone() };
    assert_eq!(refused(s.demo.admin.issue_asset(&s.chain.id, &bad_symbol).await).0, 400);
    let nft_decimals = IssueAssetRequest {
        name: "other".into(),
        kind: AssetKind::NonFungible,
        decimals: Some(2),
        ..taken
    };
    assert_eq!(refused(s.demo.admin.issue_asset(&s.chain.id, &nft_decimals).await).0, 400);

    // Only the issuer issues: a wallet calling `issue` itself is reverted on chain.
    let wallet = s.web3_account().await;
    sol! { function issue(address to, uint256 value) external; }
    let input = issueCall { to: CAROL.parse().unwrap(), value: U256::from(5) }.abi_encode();
    assert!(!s.web3_send(&wallet, &asset.address, input).await);
    assert_eq!(s.demo.admin.asset(&s.chain.id, "pts").await.unwrap().total_supply, "100");
}

/// A user the administrator makes, who makes an organization and brings it into the demo's
/// consortium (the administrator's organization approves).
async fn member(s: &Services, name: &str) -> (PlatformClient, String) {
    let admin = &s.demo.admin;
    let password = "correct horse battery";
    admin
        .create_user(&CreateUserRequest { username: name.into(), password: password.into() })
        .await
        .unwrap();
    let user = PlatformClient::new(&s.demo.console);
    user.login(name, password).await.unwrap();
    let org = user.create_org(&format!("{name} corp")).await.unwrap();
    let invite = InviteRequest { username: name.into(), org_id: None };
    let invitation = admin.invite(&s.chain.consortium_id, &invite).await.unwrap();
    user.accept_invitation(&invitation.id).await.unwrap();
    let join = JoinRequest { org_id: org.id.clone(), invitation_id: invitation.id };
    let request = user.request_join(&s.chain.consortium_id, &join).await.unwrap();
    let approve = VoteRequest { decision: Decision::Approve, org_id: None };
    admin.vote(&s.chain.consortium_id, &request.id, &approve).await.unwrap();
    (user, org.id)
}

/// Waits until governance on chain holds `org` as a member (the ledger asks it).
async fn on_chain_member(s: &Services, org: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s.demo.admin.chain(&s.chain.id).await.unwrap().orgs.iter().any(|o| o == org) {
        assert!(Instant::now() < deadline, "{org} never joined the chain");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn entry(debtor: &str, creditor: &str, amount: u64, reference: &str) -> PostEntryRequest {
    PostEntryRequest {
        debtor: debtor.into(),
        creditor: creditor.into(),
        amount: amount.to_string(),
        currency: "CNY".into(),
        reference: reference.into(),
        attachment_hash: Some(format!("0x{}", "ab".repeat(32))),
        org_id: None,
    }
}

#[tokio::test]
async fn the_shared_ledger_confirms_disputes_and_balances_across_three_orgs() {
    let s = Services::up().await;
    let (carol, two) = member(&s, "carol").await;
    let (dave, three) = member(&s, "dave").await;
    // The chain's only member admits the second alone; the third needs both.
    s.demo.admin.invite_org(&s.chain.id, &two).await.unwrap();
    on_chain_member(&s, &two).await;
    s.demo.admin.invite_org(&s.chain.id, &three).await.unwrap();
    let open = ChainProposalsQuery { status: Some("open".into()) };
    let proposals = carol.chain_proposals(&s.chain.id, &open).await.unwrap();
    let id = proposals.proposals.last().unwrap().id;
    let vote = ProposalVoteRequest { org_id: two.clone(), approve: true };
    carol.vote_on_proposal(&s.chain.id, id, &vote).await.unwrap();
    on_chain_member(&s, &three).await;
    let (one, chain) = (s.org.clone(), s.chain.id.clone());

    // one is owed 1000 by two (one posts, two confirms); two owes three 300 (three posts, two
    // confirms); one claims 50 from three, who disputes it; two claims 70 from one, unanswered.
    let a = s.demo.admin.post_entry(&chain, &entry(&two, &one, 1000, "INV-1")).await.unwrap();
    assert_eq!((a.status, a.posted_by.as_str()), (EntryStatus::Pending, one.as_str()));
    assert_eq!(a.attachment_hash, Some(format!("0x{}", "ab".repeat(32))));
    let b = dave.post_entry(&chain, &entry(&two, &three, 300, "INV-2")).await.unwrap();
    let c = s.demo.admin.post_entry(&chain, &entry(&three, &one, 50, "INV-3")).await.unwrap();
    let d = carol.post_entry(&chain, &entry(&one, &two, 70, "INV-4")).await.unwrap();
    let settle = SettleEntryRequest::default();
    // The poster cannot confirm its own entry; an outsider to the entry cannot either.
    let own = refused(s.demo.admin.settle_entry(&chain, a.id, "confirm", &settle).await);
    assert!(own.1.contains("only the counterparty"), "{}", own.1);
    let outsider = refused(dave.settle_entry(&chain, a.id, "confirm", &settle).await);
    assert!(outsider.1.contains("only the counterparty"), "{}", outsider.1);
    let confirmed = carol.settle_entry(&chain, a.id, "confirm", &settle).await.unwrap();
    assert_eq!(confirmed.status, EntryStatus::Confirmed);
    carol.settle_entry(&chain, b.id, "confirm", &settle).await.unwrap();
    let no_reason = refused(dave.settle_entry(&chain, c.id, "dispute", &settle).await);
    assert_eq!(no_reason.0, 400);
    let why = SettleEntryRequest { reason: Some("never delivered".into()), org_id: None };
    let disputed = dave.settle_entry(&chain, c.id, "dispute", &why).await.unwrap();
    assert_eq!(
        (disputed.status, disputed.note.as_str()),
        (EntryStatus::Disputed, "never delivered")
    );
    let twice = refused(dave.settle_entry(&chain, c.id, "confirm", &settle).await);
    assert!(twice.1.contains("settled already"), "{}", twice.1);

    let mut balances: Vec<(String, String)> = s
        .demo
        .admin
        .party_balances(&chain)
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.org_id, b.balance))
        .collect();
    balances.sort();
    let mut expected = vec![
        (one.clone(), "1000".to_owned()),
        (two.clone(), "-1300".into()),
        (three.clone(), "300".into()),
    ];
    expected.sort();
    assert_eq!(balances, expected);

    let report = s.demo.admin.reconciliation(&chain, &one).await.unwrap();
    let lines: Vec<(String, String, u64, String, u64)> = report
        .lines
        .iter()
        .map(|l| {
            (
                l.counterparty.clone(),
                l.confirmed_net.clone(),
                l.pending,
                l.pending_net.clone(),
                l.disputed,
            )
        })
        .collect();
    let mut want = vec![
        (two.clone(), "1000".to_owned(), 1, "-70".to_owned(), 0),
        (three.clone(), "0".into(), 0, "0".into(), 1),
    ];
    want.sort();
    assert_eq!(lines, want);
    assert_eq!(report.awaiting_us.iter().map(|e| e.id).collect::<Vec<_>>(), vec![d.id]);
    assert_eq!(report.disputed.iter().map(|e| e.id).collect::<Vec<_>>(), vec![c.id]);
    assert_eq!(s.demo.admin.entries(&chain).await.unwrap().len(), 4);
    // The ledger is a contract of the chain, visible as the platform's shared ledger.
    let contract = s.demo.admin.contract(&chain, "shared-ledger").await.unwrap();
    assert_eq!(contract.standard.as_deref(), Some("shared-ledger"));
}

/// `consortia notary verify ARGS…`: whether it succeeded, and what it printed.
fn notary_verify(args: &[&std::path::Path]) -> (bool, String) {
    let out = std::process::Command::new(&*consortia_test_utils::process::BIN)
        .args(["notary", "verify"])
        .args(args)
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A record notarized on the demo chain, with its certificate, proof bundle, genesis and
/// document written to a directory.
struct Certified {
    s: Services,
    dir: tempfile::TempDir,
    bundle: consortia_api::notary_proof::NotaryBundle,
}

impl Certified {
    const DOCUMENT: &[u8] = b"bill of lading 42";

    async fn new() -> Certified {
        let s = Services::up().await;
        let key = PrivateKey::generate(Scheme::Ed25519);
        let chain_id = s.chain.chain_id as u64;
        let tx = consortia_test_utils::tx::notarize(&key, chain_id, 0, "bol-42", Self::DOCUMENT);
        let node = demo::node(&s.chain.node_urls()[0], &s.demo.token);
        let raw = consortia_types::encode(&tx);
        node.submit_and_wait(&raw, Duration::from_secs(30)).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let admin = &s.demo.admin;
        let pdf = admin.notary_certificate(&s.chain.id, "bol-42").await.unwrap();
        std::fs::write(dir.path().join("certificate.pdf"), pdf).unwrap();
        let genesis = admin.chain_genesis(&s.chain.id).await.unwrap();
        std::fs::write(dir.path().join("genesis.json"), genesis.to_string()).unwrap();
        std::fs::write(dir.path().join("document.txt"), Self::DOCUMENT).unwrap();
        let bundle = admin.notary_proof(&s.chain.id, "bol-42").await.unwrap();
        Certified { s, dir, bundle }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a bundle as `name`, and its path.
    fn write(
        &self,
        name: &str,
        bundle: &consortia_api::notary_proof::NotaryBundle,
    ) -> std::path::PathBuf {
        let path = self.path(name);
        std::fs::write(&path, serde_json::to_vec_pretty(bundle).unwrap()).unwrap();
        path
    }
}

#[tokio::test]
async fn a_notarization_certificate_verifies_offline_from_the_genesis() {
    let c = Certified::new().await;
    let (pdf, genesis, document) =
        (c.path("certificate.pdf"), c.path("genesis.json"), c.path("document.txt"));
    let flags =
        [std::path::Path::new("--genesis"), &genesis, std::path::Path::new("--file"), &document];
    let (ok, out) = notary_verify(&[&[pdf.as_path()][..], &flags].concat());
    assert!(ok, "{out}");
    assert!(out.contains("verified: record `bol-42` is in the state of block"), "{out}");
    assert!(out.contains("anchored in the genesis"), "{out}");
    assert!(out.contains("matches the content hash"), "{out}");
    // The JSON bundle on its own verifies the same way.
    let json = c.write("proof.json", &c.bundle);
    let (ok, out) = notary_verify(&[&[json.as_path()][..], &flags].concat());
    assert!(ok, "{out}");
    assert_eq!(c.bundle.record.id, "bol-42");
    assert_eq!(
        c.bundle.headers.len(),
        1,
        "no set change since the genesis: only the proving header"
    );
    let missing = c.s.demo.admin.notary_certificate(&c.s.chain.id, "no-such-record").await;
    assert_eq!(refused(missing).0, 404);
}

#[tokio::test]
async fn a_tampered_certificate_or_another_document_fails_verification() {
    let c = Certified::new().await;
    let genesis = c.path("genesis.json");
    let anchored = |bundle: &std::path::Path| {
        notary_verify(&[bundle, std::path::Path::new("--genesis"), &genesis])
    };

    let mut forged = c.bundle.clone();
    forged.record.metadata = "forged".into();
    let (ok, out) = anchored(&c.write("forged-record.json", &forged));
    assert!(!ok && out.contains("another record than the proven one"), "{out}");

    let mut forged = c.bundle.clone();
    let value = forged.state_proof.value.take().unwrap();
    let mut bytes = hex::decode(value.trim_start_matches("0x")).unwrap();
    bytes[10] ^= 1;
    forged.state_proof.value = Some(format!("0x{}", hex::encode(bytes)));
    let (ok, out) = anchored(&c.write("forged-value.json", &forged));
    assert!(!ok && out.contains("NOT VERIFIED"), "{out}");

    let mut forged = c.bundle.clone();
    forged.genesis_validators[0].power += 1;
    let (ok, out) = anchored(&c.write("forged-set.json", &forged));
    assert!(!ok && out.contains("another set than the genesis"), "{out}");
    // Unanchored, a bundle whose set was changed still fails: its headers' certificates do not
    // check under that set.
    let (ok, out) = notary_verify(&[&c.path("forged-set.json")]);
    assert!(!ok && out.contains("is not certified"), "{out}");

    std::fs::write(c.path("other.txt"), b"bill of lading 43").unwrap();
    let (ok, out) = notary_verify(&[
        &c.path("certificate.pdf"),
        std::path::Path::new("--file"),
        &c.path("other.txt"),
    ]);
    assert!(!ok && out.contains("NOT THE DOCUMENT"), "{out}");
}

/// The certificate as readers see it, through poppler's and zbar's tools (installed by
/// scripts/test; `CONSORTIA_TEST_PDF_TOOLS` is their directory, unset: skipped).
#[tokio::test]
async fn a_certificate_pdf_reads_in_pdf_tools_with_its_qr_code_and_attachment() {
    let Some(tools) = std::env::var_os("CONSORTIA_TEST_PDF_TOOLS") else {
        eprintln!("CONSORTIA_TEST_PDF_TOOLS unset: skipped (scripts/pdf-tools installs them)");
        return;
    };
    let tools = std::path::PathBuf::from(tools);
    let c = Certified::new().await;
    let pdf = c.path("certificate.pdf");
    let run = |tool: &str, args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(tools.join(tool)).args(args).output().unwrap();
        assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = run("pdftotext", &[pdf.as_os_str(), "-".as_ref()]);
    assert!(text.contains("Notarization certificate") && text.contains("bol-42"), "{text}");
    assert!(text.contains(&c.bundle.record.content_hash), "{text}");
    let attachments = run("pdfdetach", &["-list".as_ref(), pdf.as_os_str()]);
    assert!(attachments.contains("proof.json"), "{attachments}");
    let png = c.path("page");
    run(
        "pdftoppm",
        &[
            "-png".as_ref(),
            "-r".as_ref(),
            "150".as_ref(),
            "-singlefile".as_ref(),
            pdf.as_os_str(),
            png.as_os_str(),
        ],
    );
    if let Some(shots) = std::env::var_os("CONSORTIA_SCREENSHOTS") {
        let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(shots);
        std::fs::create_dir_all(&shots).unwrap();
        std::fs::copy(c.path("page.png"), shots.join("notary-certificate.png")).unwrap();
    }
    let decoded =
        run("zbarimg", &["--quiet".as_ref(), "--raw".as_ref(), c.path("page.png").as_os_str()]);
    assert!(decoded.starts_with("consortia-notary:chain="), "{decoded}");
    assert!(
        decoded.contains("record=bol-42;") && decoded.contains(&c.bundle.record.content_hash),
        "{decoded}"
    );
}

#[tokio::test]
async fn a_webhook_is_seen_only_by_its_organization() {
    let s = Services::up().await;
    let (erin, two) = member(&s, "erin").await;
    s.demo.admin.invite_org(&s.chain.id, &two).await.unwrap();
    on_chain_member(&s, &two).await;
    let request = CreateWebhookRequest {
        url: "http://127.0.0.1:9/erp".into(),
        contract: None,
        event: None,
        topics: vec![],
        from_height: None,
        org_id: None,
    };
    let mine = erin.create_webhook(&s.chain.id, &request).await.unwrap();
    // The administrator of the platform sees it; a member of another organization does not.
    let user = PlatformClient::new(&s.demo.console);
    s.demo
        .admin
        .create_user(&CreateUserRequest {
            username: "frank".into(),
            password: "correct horse battery".into(),
        })
        .await
        .unwrap();
    let member = AddMemberRequest { username: "frank".into(), role: Role::Operator };
    s.demo.admin.add_member(&s.org, &member).await.unwrap();
    user.login("frank", "correct horse battery").await.unwrap();
    assert!(user.webhooks(&s.chain.id).await.unwrap().is_empty());
    assert_eq!(refused(user.webhook(&s.chain.id, &mine.webhook.id).await).0, 404);
    assert_eq!(erin.webhooks(&s.chain.id).await.unwrap().len(), 1);
    assert_eq!(s.demo.admin.webhooks(&s.chain.id).await.unwrap().len(), 1);
}
