//! The sealed keystore: a sealed platform answers only health, its seal status and unseal;
//! M of N shares from separate holders unseal it; sealing and rekeying; and no private key
//! reaches the database in clear.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::{Server, refused};
use consortia_api::PlatformClient;
use consortia_api::platform::*;
use reqwest::Method;

/// The administrator's client, once `server` is unsealed.
async fn admin_of(server: &Server) -> PlatformClient {
    server.admin().await
}

#[tokio::test]
async fn a_sealed_platform_answers_only_health_its_status_and_unseal() {
    let (server, _) = Server::start_sealed(5, 3).await;
    let anonymous = server.anonymous();
    assert_eq!(anonymous.health().await.unwrap().status, "ok");
    let status = anonymous.seal_status().await.unwrap();
    assert!(status.sealed);
    assert_eq!((status.threshold, status.shares, status.progress), (3, 5, 0));
    let (code, body) = server.raw(Method::GET, "/v1/orgs", None, "").await;
    assert_eq!((code, body["code"].as_str()), (503, Some("sealed")), "{body}");
    let password = server.admin_password.clone().unwrap();
    assert_eq!(refused(anonymous.login("admin", &password).await), (503, "sealed".into()));
    let (code, _) = server.raw(Method::GET, "/", None, "").await;
    assert_eq!(code, 200, "the console (and its unseal screen) still loads");
}

#[tokio::test]
async fn three_of_five_holders_unseal_one_share_at_a_time() {
    let (server, shares) = Server::start_sealed(5, 3).await;
    let holder = server.anonymous();
    for (given, share) in [&shares[4], &shares[1]].into_iter().enumerate() {
        let status = holder.unseal(&share.to_string()).await.unwrap();
        assert!(status.sealed);
        assert_eq!(status.progress as usize, given + 1);
    }
    let twice = holder.unseal(&shares[1].to_string()).await.unwrap();
    assert_eq!(twice.progress, 2, "the same share twice counts once");
    let status = holder.unseal(&shares[2].to_string()).await.unwrap();
    assert!(!status.sealed);
    assert_eq!(status.progress, 0);
    admin_of(&server).await.orgs().await.unwrap();
}

#[tokio::test]
async fn a_share_of_another_platform_or_a_typo_is_refused_by_name() {
    let (server, _) = Server::start_sealed(3, 2).await;
    let (_, foreign) = Server::start_sealed(3, 2).await;
    let holder = server.anonymous();
    assert_eq!(refused(holder.unseal(&foreign[0].to_string()).await), (400, "wrong_share".into()));
    assert_eq!(refused(holder.unseal("cshare1-not-a-share").await), (400, "bad_share".into()));
    assert_eq!(holder.seal_status().await.unwrap().progress, 0);
}

#[tokio::test]
async fn sealing_takes_the_keys_away_until_holders_unseal_again() {
    let (server, shares) = Server::start_sealed(2, 2).await;
    for share in &shares {
        server.anonymous().unseal(&share.to_string()).await.unwrap();
    }
    let admin = admin_of(&server).await;
    let org = admin.create_org("before").await.unwrap();
    assert!(admin.seal().await.unwrap().sealed);
    assert_eq!(refused(admin.orgs().await), (503, "sealed".into()));
    for share in &shares {
        server.anonymous().unseal(&share.to_string()).await.unwrap();
    }
    assert_eq!(admin.org(&org.id).await.unwrap().name, "before", "the same session works again");
}

#[tokio::test]
async fn only_a_platform_administrator_seals_or_rekeys() {
    let server = Server::start(common::Backend::Sqlite).await.unwrap();
    let admin = admin_of(&server).await;
    let user = common::user(&server, &admin, "alice").await;
    assert_eq!(refused(user.seal().await), (403, "forbidden".into()));
    assert_eq!(refused(user.rekey(3, 2).await), (403, "forbidden".into()));
    assert!(!server.anonymous().seal_status().await.unwrap().sealed);
}

#[tokio::test]
async fn a_rekey_hands_out_a_new_set_and_retires_the_old_without_downtime() {
    let (server, old) = Server::start_sealed(3, 2).await;
    for share in &old[..2] {
        server.anonymous().unseal(&share.to_string()).await.unwrap();
    }
    let admin = admin_of(&server).await;
    let rekey = admin.rekey(4, 3).await.unwrap();
    assert_eq!((rekey.required, rekey.progress), (2, 0));
    let holder = server.anonymous();
    let halfway = holder.rekey_share(&rekey.nonce, &old[2].to_string()).await.unwrap();
    assert!(!halfway.complete && halfway.new_shares.is_empty());
    admin.orgs().await.unwrap();
    let done = holder.rekey_share(&rekey.nonce, &old[0].to_string()).await.unwrap();
    assert!(done.complete);
    assert_eq!(done.new_shares.len(), 4);
    admin.orgs().await.unwrap();
    let status = holder.seal_status().await.unwrap();
    assert_eq!((status.shares, status.threshold, status.sealed), (4, 3, false));

    admin.seal().await.unwrap();
    assert_eq!(refused(holder.unseal(&old[0].to_string()).await), (400, "wrong_share".into()));
    for share in &done.new_shares[1..] {
        holder.unseal(share).await.unwrap();
    }
    assert!(!holder.seal_status().await.unwrap().sealed);
}

#[tokio::test]
async fn a_rekey_share_needs_a_rekey_under_way() {
    let (server, shares) = Server::start_sealed(1, 1).await;
    server.anonymous().unseal(&shares[0].to_string()).await.unwrap();
    let answer = server.anonymous().rekey_share("rekey_nonce", &shares[0].to_string()).await;
    assert_eq!(refused(answer), (404, "not_found".into()));
}

#[tokio::test]
async fn no_private_key_reaches_the_database_in_clear() {
    let server = Server::start(common::Backend::Sqlite).await.unwrap();
    let admin = admin_of(&server).await;
    common::consortium(&admin, "sealed", "acme", ApprovalPolicy::Leader).await;
    let db = server.platform.db();
    let cells: Vec<(String,)> = sqlx::query_as(
        "SELECT ca_key_pem FROM consortiums UNION ALL SELECT key_pem FROM consortium_members \
         UNION ALL SELECT key_pem FROM org_accounts",
    )
    .fetch_all(db)
    .await
    .unwrap();
    assert_eq!(cells.len(), 2, "the consortium CA and the member's CA");
    for (value,) in &cells {
        assert!(value.starts_with("enc1:aes-256-gcm:"), "{value}");
    }
    let dir = server.data_dir();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(db).await.unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(11).any(|w| w == b"PRIVATE KEY"),
                "{} holds a PEM private key",
                path.display()
            );
        }
    }
    assert!(!dir.join("platform.key").exists(), "the token key is sealed in the database");
}

/// A platform made before the keystore existed: clear PEM keys in the database and the token
/// key in `platform.key`. Initializing seals both, and the sessions it signed stay valid.
#[tokio::test]
async fn initializing_seals_the_keys_of_a_platform_made_before_the_keystore() {
    let server = Server::start(common::Backend::Sqlite).await.unwrap();
    let admin = admin_of(&server).await;
    common::consortium(&admin, "legacy", "acme", ApprovalPolicy::Leader).await;
    // Turn it into what an older platform left behind.
    let keys = server.platform.keys().unwrap();
    let db = server.platform.db().clone();
    let (id, sealed): (String, String) =
        sqlx::query_as("SELECT id, ca_key_pem FROM consortiums").fetch_one(&db).await.unwrap();
    let secret = consortia_platform::keystore::Secret::ConsortiumCa { consortium: id.clone() };
    let clear = keys.open(&secret, &sealed).unwrap().to_string();
    sqlx::query("UPDATE consortiums SET ca_key_pem = $1").bind(&clear).execute(&db).await.unwrap();
    sqlx::query("DELETE FROM keystore").execute(&db).await.unwrap();
    let token_key = keys.tokens.issue("usr_x", "ses_x", 0, 1);
    drop(keys);
    let dir = server.data_dir();
    std::fs::write(dir.join("platform.key"), legacy_token_key(&server)).unwrap();

    let config = consortia_platform::PlatformConfig::new(&dir);
    let shares = consortia_platform::service::keystore::initialize(
        &config,
        1,
        1,
        consortia_crypto::Aead::Aes256Gcm,
    )
    .await
    .unwrap();
    let (now,): (String,) =
        sqlx::query_as("SELECT ca_key_pem FROM consortiums").fetch_one(&db).await.unwrap();
    assert!(now.starts_with("enc1:"), "{now}");
    assert!(!dir.join("platform.key").exists());
    std::fs::write(dir.join("test.share"), shares[0].to_string()).unwrap();
    let server = server.restart().await;
    let keys = server.platform.keys().unwrap();
    assert_eq!(keys.open(&secret, &now).unwrap().as_str(), clear);
    assert_eq!(
        keys.tokens.issue("usr_x", "ses_x", 0, 1),
        token_key,
        "the same token key, imported"
    );
}

/// The token key's bytes, as an older platform kept them in `platform.key`.
fn legacy_token_key(server: &Server) -> Vec<u8> {
    server.platform.keys().unwrap().tokens.to_bytes().to_vec()
}
