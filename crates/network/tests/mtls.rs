//! Real mutual TLS over loopback sockets.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use consortia_crypto::{PrivateKey, Scheme};
use consortia_network::pki::Ca;
use consortia_network::{NetEvent, Network, NetworkConfig, PeerId, TlsIdentity};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};

struct Node {
    key: PrivateKey,
    tls: TlsIdentity,
}

fn node(ca: &Ca, name: &str) -> Node {
    let key = PrivateKey::generate(Scheme::Ed25519);
    let cert_pem = ca.issue(name, &key).unwrap();
    let tls = TlsIdentity { ca_pem: ca.cert_pem().into(), cert_pem, key_pem: key.to_pkcs8_pem() };
    Node { key, tls }
}

fn id(n: &Node) -> PeerId {
    PeerId::of(&n.key.public_key()).unwrap()
}

async fn start(
    n: &Node,
    peers: Vec<String>,
    allowed: Vec<PeerId>,
    handshake: &[u8],
) -> (Network, mpsc::Receiver<NetEvent>, watch::Sender<bool>) {
    start_with_max_frame(n, peers, allowed, handshake, 1024).await
}

async fn start_with_max_frame(
    n: &Node,
    peers: Vec<String>,
    allowed: Vec<PeerId>,
    handshake: &[u8],
    max_frame_bytes: usize,
) -> (Network, mpsc::Receiver<NetEvent>, watch::Sender<bool>) {
    start_speaking(n, (peers, allowed), handshake, max_frame_bytes, 2).await
}

async fn start_speaking(
    n: &Node,
    (peers, allowed): (Vec<String>, Vec<PeerId>),
    handshake: &[u8],
    max_frame_bytes: usize,
    protocol: u32,
) -> (Network, mpsc::Receiver<NetEvent>, watch::Sender<bool>) {
    let (stop, shutdown) = watch::channel(false);
    let config = NetworkConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        peers,
        tls: n.tls.clone(),
        allowed,
        handshake: handshake.to_vec(),
        max_frame_bytes,
        protocol,
    };
    let (net, events) = Network::start(config, shutdown).await.unwrap();
    (net, events, stop)
}

/// Waits for the next event matching `f`, failing after a few seconds.
async fn expect<T>(
    events: &mut mpsc::Receiver<NetEvent>,
    mut f: impl FnMut(NetEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(t) = f(events.recv().await.expect("network stopped")) {
                return t;
            }
        }
    })
    .await
    .expect("event did not arrive")
}

/// No event matching `f` within a second.
async fn never(events: &mut mpsc::Receiver<NetEvent>, mut f: impl FnMut(&NetEvent) -> bool) {
    let deadline = tokio::time::sleep(Duration::from_secs(1));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            e = events.recv() => if let Some(e) = e { assert!(!f(&e), "unexpected {e:?}") },
            _ = &mut deadline => return,
        }
    }
}

#[tokio::test]
async fn nodes_of_the_set_connect_and_exchange_frames() {
    let ca = Ca::generate("test").unwrap();
    let (a, b, c) = (node(&ca, "a"), node(&ca, "b"), node(&ca, "c"));
    let allowed = vec![id(&a), id(&b), id(&c)];
    let (na, mut ea, _sa) = start(&a, vec![], allowed.clone(), b"chain").await;
    let addr = na.local_addr().to_string();
    let (nb, mut eb, _sb) = start(&b, vec![addr.clone()], allowed.clone(), b"chain").await;
    let (nc, mut ec, _sc) =
        start(&c, vec![addr.clone(), nb.local_addr().to_string()], allowed, b"chain").await;
    expect(&mut ea, |e| matches!(e, NetEvent::Connected(p) if p == id(&b)).then_some(())).await;
    expect(&mut ea, |e| matches!(e, NetEvent::Connected(p) if p == id(&c)).then_some(())).await;
    expect(&mut eb, |e| matches!(e, NetEvent::Connected(p) if p == id(&c)).then_some(())).await;
    na.broadcast(b"hello".to_vec());
    for events in [&mut eb, &mut ec] {
        let (from, frame) = expect(events, |e| match e {
            NetEvent::Frame(p, f) => Some((p, f)),
            _ => None,
        })
        .await;
        assert_eq!((from, &frame[..]), (id(&a), &b"hello"[..]));
    }
    nc.send(id(&b), b"direct".to_vec());
    let frame = expect(&mut eb, |e| match e {
        NetEvent::Frame(p, f) if p == id(&c) => Some(f),
        _ => None,
    })
    .await;
    assert_eq!(&frame[..], b"direct");
    assert_eq!(na.peers().len(), 2);
}

/// Peers speak the newest protocol version both offer, and a peer offering none (a build from
/// before versions were negotiated) speaks 1; each gets the frame made for its version.
#[tokio::test]
async fn peers_speak_the_newest_protocol_both_know_and_get_frames_for_it() {
    let ca = Ca::generate("test").unwrap();
    let (a, b, c, d) = (node(&ca, "a"), node(&ca, "b"), node(&ca, "c"), node(&ca, "d"));
    let allowed = vec![id(&a), id(&b), id(&c), id(&d)];
    let to = |net: &Network| (vec![net.local_addr().to_string()], allowed.clone());
    let (na, mut ea, _sa) = start_speaking(&a, (vec![], allowed.clone()), b"x", 1024, 3).await;
    let (_nb, mut eb, _sb) = start_speaking(&b, to(&na), b"x", 1024, 3).await;
    let (_nc, mut ec, _sc) = start_speaking(&c, to(&na), b"x", 1024, 2).await;
    let (_nd, mut ed, _sd) = start_speaking(&d, to(&na), b"x", 1024, 1).await;
    for peer in [&b, &c, &d] {
        expect(&mut ea, |e| matches!(e, NetEvent::Connected(p) if p == id(peer)).then_some(()))
            .await;
    }
    na.broadcast_by_protocol(&mut |v| format!("v{v}").into_bytes());
    for (events, want) in [(&mut eb, "v3"), (&mut ec, "v2"), (&mut ed, "v1")] {
        let frame = expect(events, |e| match e {
            NetEvent::Frame(_, f) => Some(f),
            _ => None,
        })
        .await;
        assert_eq!(&frame[..], want.as_bytes());
    }
}

#[tokio::test]
async fn outsiders_and_other_chains_are_refused() {
    let ca = Ca::generate("test").unwrap();
    let (a, member) = (node(&ca, "a"), node(&ca, "member"));
    // Same CA, but its key is not in genesis.
    let stranger = node(&ca, "stranger");
    // Listed key, but a certificate from another CA.
    let other_ca = Ca::generate("other").unwrap();
    let mut forger = node(&other_ca, "forger");
    forger.key = member.key.clone();
    forger.tls.cert_pem = other_ca.issue("forger", &member.key).unwrap();
    forger.tls.key_pem = member.key.to_pkcs8_pem();

    let allowed = vec![id(&a), id(&member)];
    let (na, mut ea, _sa) = start(&a, vec![], allowed.clone(), b"chain").await;
    let addr = na.local_addr().to_string();
    let everyone = vec![id(&a), id(&member), id(&stranger)];
    let (_ns, mut es, _ss) = start(&stranger, vec![addr.clone()], everyone.clone(), b"chain").await;
    let (_nf, _ef, _sf) = start(&forger, vec![addr.clone()], everyone.clone(), b"chain").await;
    // A member of the set, but of another chain (handshake differs).
    let (_nm, _em, _sm) = start(&member, vec![addr.clone()], everyone, b"other chain").await;
    never(&mut ea, |e| matches!(e, NetEvent::Connected(_))).await;
    never(&mut es, |e| matches!(e, NetEvent::Connected(_))).await;
}

#[tokio::test]
async fn oversized_frames_and_disconnects_end_the_connection() {
    let ca = Ca::generate("test").unwrap();
    let (a, b) = (node(&ca, "a"), node(&ca, "b"));
    let allowed = vec![id(&a), id(&b)];
    let (na, mut ea, _sa) = start(&a, vec![], allowed.clone(), b"chain").await;
    let (nb, mut eb, _sb) = start(&b, vec![na.local_addr().to_string()], allowed, b"chain").await;
    expect(&mut ea, |e| matches!(e, NetEvent::Connected(_)).then_some(())).await;
    expect(&mut eb, |e| matches!(e, NetEvent::Connected(_)).then_some(())).await;
    // A frame over the 1,024-byte limit closes the connection at the receiver.
    nb.send(id(&a), vec![0; 4096]);
    expect(&mut ea, |e| matches!(e, NetEvent::Disconnected(p) if p == id(&b)).then_some(())).await;
    // b redials; a then disconnects it on purpose and refuses it for a while.
    expect(&mut ea, |e| matches!(e, NetEvent::Connected(p) if p == id(&b)).then_some(())).await;
    na.disconnect(id(&b), "test");
    expect(&mut ea, |e| matches!(e, NetEvent::Disconnected(p) if p == id(&b)).then_some(())).await;
    never(&mut ea, |e| matches!(e, NetEvent::Connected(_))).await;
}

#[tokio::test]
async fn plain_tcp_garbage_is_not_a_peer() {
    let ca = Ca::generate("test").unwrap();
    let a = node(&ca, "a");
    let (na, mut ea, _sa) = start(&a, vec![], vec![id(&a)], b"chain").await;
    let mut tcp = tokio::net::TcpStream::connect(na.local_addr()).await.unwrap();
    tcp.write_all(&[0xff; 512]).await.unwrap();
    never(&mut ea, |_| true).await;
}

#[tokio::test]
async fn a_reloaded_ca_issues_certificates_peers_accept() {
    let ca = Ca::generate("test").unwrap();
    let a = node(&ca, "a");
    let reloaded = Ca::load("test", ca.cert_pem(), ca.key_pem()).unwrap();
    let b = node(&reloaded, "b");
    let allowed = vec![id(&a), id(&b)];
    let (na, mut ea, _sa) = start(&a, vec![], allowed.clone(), b"chain").await;
    let (_nb, _eb, _sb) = start(&b, vec![na.local_addr().to_string()], allowed, b"chain").await;
    expect(&mut ea, |e| matches!(e, NetEvent::Connected(p) if p == id(&b)).then_some(())).await;
}

#[tokio::test]
async fn a_member_ca_trusted_later_admits_its_listed_nodes_only() {
    let consortium = Ca::generate("consortium").unwrap();
    let member_ca = Ca::generate("new member").unwrap();
    let a = node(&consortium, "a");
    let joiner = node(&member_ca, "joiner");
    let unlisted = node(&member_ca, "unlisted");
    let allowed = vec![id(&a), id(&joiner)];
    let (na, mut ea, _sa) = start(&a, vec![], allowed.clone(), b"chain").await;
    let addr = na.local_addr().to_string();
    let (nj, _ej, _sj) = start(&joiner, vec![addr.clone()], allowed.clone(), b"chain").await;
    nj.set_trusted_cas(&[consortium.cert_pem().to_owned()]);
    let everyone = vec![id(&a), id(&joiner), id(&unlisted)];
    let (nu, _eu, _su) = start(&unlisted, vec![addr.clone()], everyone, b"chain").await;
    nu.set_trusted_cas(&[consortium.cert_pem().to_owned()]);
    never(&mut ea, |e| matches!(e, NetEvent::Connected(_))).await;
    // The chain's governance added the member with its CA: its listed node gets in.
    na.set_trusted_cas(&[member_ca.cert_pem().to_owned(), "not a certificate".into()]);
    expect(&mut ea, |e| matches!(e, NetEvent::Connected(p) if p == id(&joiner)).then_some(()))
        .await;
    never(&mut ea, |e| matches!(e, NetEvent::Connected(p) if *p == id(&unlisted))).await;
}

#[tokio::test]
async fn a_peer_whose_frames_are_not_handled_stops_at_the_receive_budget() {
    const MIB: usize = 1024 * 1024;
    let ca = Ca::generate("test").unwrap();
    let (a, b) = (node(&ca, "a"), node(&ca, "b"));
    let allowed = vec![id(&a), id(&b)];
    let (na, mut ea, _sa) =
        start_with_max_frame(&a, vec![], allowed.clone(), b"chain", 2 * MIB).await;
    let addr = na.local_addr().to_string();
    let (nb, mut eb, _sb) = start_with_max_frame(&b, vec![addr], allowed, b"chain", 2 * MIB).await;
    expect(&mut ea, |e| matches!(e, NetEvent::Connected(_)).then_some(())).await;
    expect(&mut eb, |e| matches!(e, NetEvent::Connected(_)).then_some(())).await;
    for _ in 0..12 {
        nb.send(id(&a), vec![7; MIB]);
    }
    // The receiver holds on to what it got: 8 MiB of frames is all b may have outstanding.
    let mut held = vec![];
    for _ in 0..8 {
        held.push(expect(&mut ea, |e| matches!(e, NetEvent::Frame(..)).then_some(e)).await);
    }
    never(&mut ea, |e| matches!(e, NetEvent::Frame(..))).await;
    // Done with them: the rest come, nothing was lost.
    drop(held);
    for _ in 0..4 {
        expect(&mut ea, |e| matches!(e, NetEvent::Frame(..)).then_some(())).await;
    }
}
