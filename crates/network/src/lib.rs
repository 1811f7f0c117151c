//! Mutual-TLS peer-to-peer transport for Consortia: consortium PKI, framed messages, reconnects.
//!
//! Every connection is TLS 1.3 with certificates on both sides, issued by the consortium CA
//! ([`pki::Ca`]). After the handshake a peer is known by its certificate's Ed25519 key, its
//! [`PeerId`]; a key that is not in the configured set (genesis lists the nodes' keys) is
//! refused, whatever CA signed it. Both sides then exchange a handshake frame (the node sends
//! its genesis hash) and must agree.
//!
//! Messages are frames (a 4-byte big-endian length, then the bytes) up to a maximum size; a
//! larger length closes the connection before anything is read. What the frames mean is the
//! node's business: this crate moves bytes, and the node asks it to [`Network::disconnect`] a
//! peer that sent something invalid (the peer is then refused for a while).
//!
//! Nodes of different builds speak the versions of the node protocol they share: TLS's
//! application-layer protocol negotiation (ALPN) picks the highest both offer (`consortia/2`,
//! ...), and a peer that offers none (a build from before versions were negotiated) speaks 1.
//! [`Network::broadcast_by_protocol`] sends each peer the frame made for its version.
//!
//! Each configured address is dialed and redialed with exponential backoff; inbound
//! connections are accepted from any allowed peer. Two nodes that dial each other hold two
//! connections; frames go out on one, and are read from both. Sending never blocks: a frame
//! for a peer whose queue is full is dropped (consensus re-sends, gossip is best effort, sync
//! asks again).

pub use consortia_crypto::pki;
mod tls;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use consortia_crypto::PublicKey;
use parking_lot::Mutex;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub use crate::tls::{TlsIdentity, client_config as tls_client_config};

/// Frames queued per connection before new ones are dropped.
const SEND_QUEUE: usize = 1024;
/// Bytes of one connection's frames received but not yet done with (see [`Frame`]). When a
/// peer's frames are not being handled as fast as they come, its connection stops reading and
/// TCP pushes back on the sender: memory stays bounded per peer, and a peer that floods holds up
/// only its own frames.
const RECEIVE_BUDGET: usize = 8 * 1024 * 1024;
/// How long a peer that sent invalid data is refused.
const BAN: Duration = Duration::from_secs(10);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// A peer: the Ed25519 key of its certificate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 32]);

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl PeerId {
    /// The peer id of an Ed25519 node key (`None` for other schemes).
    pub fn of(key: &PublicKey) -> Option<PeerId> {
        (key.scheme() == consortia_crypto::Scheme::Ed25519)
            .then(|| key.as_bytes().try_into().ok().map(PeerId))
            .flatten()
    }
}

#[derive(Clone, Debug)]
pub struct NetworkConfig {
    pub listen: SocketAddr,
    /// Addresses (`host:port`) to dial and keep connected.
    pub peers: Vec<String>,
    pub tls: TlsIdentity,
    /// The nodes allowed to connect at start (genesis lists them; the node then follows the
    /// chain's node list with [`Network::set_allowed`]).
    pub allowed: Vec<PeerId>,
    /// Sent and expected first on every connection (the genesis hash): nodes of another chain
    /// are turned away.
    pub handshake: Vec<u8>,
    pub max_frame_bytes: usize,
    /// The newest version of the node protocol this node speaks; it speaks every older one
    /// too. 1 is the version of builds that negotiate none.
    pub protocol: u32,
}

/// The ALPN names of the protocol versions from `newest` down to 2, newest first (rustls picks
/// the first of the server's list that the client offers).
fn alpn_names(newest: u32) -> Vec<Vec<u8>> {
    (2..=newest).rev().map(|v| format!("consortia/{v}").into_bytes()).collect()
}

/// The protocol version an ALPN name stands for; 1 when none was negotiated.
fn version_of(alpn: Option<&[u8]>) -> u32 {
    alpn.and_then(|name| std::str::from_utf8(name).ok()?.strip_prefix("consortia/")?.parse().ok())
        .unwrap_or(1)
}

/// What the network tells the node.
#[derive(Debug)]
pub enum NetEvent {
    Connected(PeerId),
    Disconnected(PeerId),
    Frame(PeerId, Frame),
}

/// A received frame. It holds its share of its connection's receive budget until it is dropped,
/// or, through [`Frame::into_credit`], until the work it started is done.
#[derive(Debug)]
pub struct Frame {
    bytes: Vec<u8>,
    credit: Credit,
}

/// A share of a connection's receive budget, given back when dropped.
#[derive(Debug, Default)]
pub struct Credit {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Frame {
    /// Drops the bytes but keeps the budget they took: for work that outlives the frame (its
    /// transactions being admitted), so the peer cannot start more of it than the budget allows.
    pub fn into_credit(self) -> Credit {
        self.credit
    }
}

impl std::ops::Deref for Frame {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// A frame outside any budget (tests, simulations).
impl From<Vec<u8>> for Frame {
    fn from(bytes: Vec<u8>) -> Self {
        Frame { bytes, credit: Credit::default() }
    }
}

struct Conn {
    id: u64,
    /// The protocol version negotiated for this connection.
    protocol: u32,
    tx: mpsc::Sender<Arc<[u8]>>,
    close: Arc<Notify>,
}

struct Inner {
    config: NetworkConfig,
    me: PeerId,
    local_addr: SocketAddr,
    conns: Mutex<BTreeMap<PeerId, Vec<Conn>>>,
    banned: Mutex<HashMap<PeerId, Instant>>,
    allowed: Mutex<BTreeSet<PeerId>>,
    next_conn: AtomicU64,
    dropped: AtomicU64,
    events: mpsc::Sender<NetEvent>,
    /// The TLS sides, rebuilt when the CAs trusted besides the consortium CA change.
    tls: Mutex<Tls>,
    shutdown: watch::Receiver<bool>,
}

struct Tls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    /// The node's identity as it presents it now (its certificate may be renewed).
    identity: TlsIdentity,
    /// The member CAs (PEM) trusted besides the consortium CA.
    extra_cas: Vec<String>,
}

impl Tls {
    fn new(identity: &TlsIdentity, extra_cas: Vec<String>, protocol: u32) -> Result<Tls, NetError> {
        let mut trusted = identity.clone();
        for ca in &extra_cas {
            trusted.ca_pem.push('\n');
            trusted.ca_pem.push_str(ca);
        }
        let mut server = Arc::unwrap_or_clone(tls::server_config(&trusted)?);
        server.alpn_protocols = alpn_names(protocol);
        let mut client = Arc::unwrap_or_clone(tls::client_config(&trusted)?);
        client.alpn_protocols = alpn_names(protocol);
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
            identity: identity.clone(),
            extra_cas,
        })
    }
}

/// A running network endpoint. Cheap to clone.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network").field("me", &self.inner.me).finish_non_exhaustive()
    }
}

/// Status of one connected peer.
#[derive(Clone, Debug)]
pub struct PeerStatus {
    pub peer: PeerId,
    pub connections: usize,
}

impl Network {
    /// Binds the listener and starts dialing. Events arrive on the returned receiver until
    /// `shutdown` turns true; dropping the receiver stops the network too (nobody would hear a
    /// peer, so no peer is kept connected or redialed).
    pub async fn start(
        config: NetworkConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(Network, mpsc::Receiver<NetEvent>), NetError> {
        let tls = Tls::new(&config.tls, vec![], config.protocol)?;
        let me = own_peer_id(&config.tls)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| NetError::Listen { addr: config.listen, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| NetError::Listen { addr: config.listen, source })?;
        let (events, receiver) = mpsc::channel(4096);
        let inner = Arc::new(Inner {
            me,
            local_addr,
            conns: Mutex::new(BTreeMap::new()),
            banned: Mutex::new(HashMap::new()),
            allowed: Mutex::new(config.allowed.iter().copied().collect()),
            next_conn: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            events,
            tls: Mutex::new(tls),
            shutdown,
            config,
        });
        tokio::spawn(accept_loop(inner.clone(), listener));
        for addr in inner.config.peers.clone() {
            tokio::spawn(dial_loop(inner.clone(), addr));
        }
        tracing::info!(target: "network", me = %me, addr = %local_addr, "listening");
        Ok((Network { inner }, receiver))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    pub fn me(&self) -> PeerId {
        self.inner.me
    }

    /// Sends a frame to every connected peer.
    pub fn broadcast(&self, frame: Vec<u8>) {
        let frame: Arc<[u8]> = frame.into();
        let conns = self.inner.conns.lock();
        for list in conns.values() {
            if let Some(conn) = list.first() {
                self.inner.queue(conn, frame.clone());
            }
        }
    }

    /// Sends each connected peer the frame `frame_for` makes for the protocol version the peer
    /// speaks (made once per version, outside the lock on the connections).
    pub fn broadcast_by_protocol(&self, frame_for: &mut dyn FnMut(u32) -> Vec<u8>) {
        let targets: Vec<(mpsc::Sender<Arc<[u8]>>, u32)> = {
            let conns = self.inner.conns.lock();
            conns.values().filter_map(|l| l.first()).map(|c| (c.tx.clone(), c.protocol)).collect()
        };
        let mut frames: BTreeMap<u32, Arc<[u8]>> = BTreeMap::new();
        for (tx, protocol) in targets {
            let frame = frames.entry(protocol).or_insert_with(|| frame_for(protocol).into());
            if tx.try_send(frame.clone()).is_err() {
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The protocol version a connected peer speaks.
    pub fn protocol_of(&self, peer: PeerId) -> Option<u32> {
        self.inner.conns.lock().get(&peer).and_then(|l| l.first()).map(|c| c.protocol)
    }

    /// Sends a frame to one peer (dropped if it is not connected).
    pub fn send(&self, peer: PeerId, frame: Vec<u8>) {
        let conns = self.inner.conns.lock();
        if let Some(conn) = conns.get(&peer).and_then(|l| l.first()) {
            self.inner.queue(conn, frame.into());
        }
    }

    /// Closes every connection to a peer that misbehaved and refuses it for a while.
    pub fn disconnect(&self, peer: PeerId, reason: &str) {
        tracing::warn!(target: "network", peer = %peer, reason, "disconnecting a misbehaving peer");
        self.inner.banned.lock().insert(peer, Instant::now() + BAN);
        if let Some(list) = self.inner.conns.lock().get(&peer) {
            for conn in list {
                conn.close.notify_one();
            }
        }
    }

    /// Admits exactly `peers` from now on and closes the connections of every other peer
    /// (a node the chain's governance removed).
    pub fn set_allowed(&self, peers: &[PeerId]) {
        let allowed: BTreeSet<PeerId> = peers.iter().copied().collect();
        for (peer, list) in self.inner.conns.lock().iter() {
            if !allowed.contains(peer) {
                tracing::info!(target: "network", peer = %peer, "disconnecting a node no longer in the chain's node set");
                for conn in list {
                    conn.close.notify_one();
                }
            }
        }
        *self.inner.allowed.lock() = allowed;
    }

    /// Trusts certificates issued by `cas` (PEM, each a member organization's CA) besides the
    /// consortium CA, from the next connection on. Admission still asks for a listed key
    /// ([`Network::set_allowed`]): a member's CA vouches only for its own listed nodes. A PEM
    /// that is no certificate is skipped with a warning.
    pub fn set_trusted_cas(&self, cas: &[String]) {
        let mut valid: Vec<String> = cas
            .iter()
            .filter(|pem| {
                let ok = tls::is_certificate(pem);
                if !ok {
                    tracing::warn!(target: "network", "a member CA is not a PEM certificate; not trusted");
                }
                ok
            })
            .cloned()
            .collect();
        valid.sort();
        valid.dedup();
        let mut current = self.inner.tls.lock();
        if current.extra_cas == valid {
            return;
        }
        match Tls::new(&current.identity.clone(), valid, self.inner.config.protocol) {
            Ok(tls) => {
                tracing::info!(target: "network", cas = tls.extra_cas.len(), "trusting member CAs");
                *current = tls;
            }
            Err(e) => tracing::warn!(target: "network", error = %e, "member CAs not trusted"),
        }
    }

    /// Presents `cert_pem` (a renewed certificate for this node's key, then its chain) from
    /// the next connection on; connections already open keep the certificate they began with.
    /// Refused if it is for another key: peers admit this node by its key.
    pub fn set_certificate(&self, cert_pem: &str) -> Result<(), NetError> {
        let mut current = self.inner.tls.lock();
        let identity = TlsIdentity { cert_pem: cert_pem.to_owned(), ..current.identity.clone() };
        if own_peer_id(&identity)? != self.inner.me {
            return Err(NetError::Certificate("the renewed certificate is for another key".into()));
        }
        *current = Tls::new(&identity, current.extra_cas.clone(), self.inner.config.protocol)?;
        tracing::info!(target: "network", "presenting a renewed certificate");
        Ok(())
    }

    pub fn peers(&self) -> Vec<PeerStatus> {
        let conns = self.inner.conns.lock();
        conns.iter().map(|(peer, l)| PeerStatus { peer: *peer, connections: l.len() }).collect()
    }

    /// Frames dropped because a peer's queue was full.
    pub fn dropped_frames(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }
}

fn own_peer_id(identity: &TlsIdentity) -> Result<PeerId, NetError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let cert = CertificateDer::from_pem_slice(identity.cert_pem.as_bytes())
        .map_err(|e| NetError::Tls(format!("node certificate: {e}")))?;
    consortia_crypto::pki::ed25519_key(&cert)
        .map(PeerId)
        .ok_or_else(|| NetError::Certificate("the node certificate's key is not Ed25519".into()))
}

impl Inner {
    fn acceptor(&self) -> TlsAcceptor {
        self.tls.lock().acceptor.clone()
    }

    fn connector(&self) -> TlsConnector {
        self.tls.lock().connector.clone()
    }

    fn queue(&self, conn: &Conn, frame: Arc<[u8]>) {
        if conn.tx.try_send(frame).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn is_banned(&self, peer: &PeerId) -> bool {
        let mut banned = self.banned.lock();
        match banned.get(peer) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                banned.remove(peer);
                false
            }
            None => false,
        }
    }

    /// Who the peer of an established TLS session is, if it may connect at all.
    fn admit(
        &self,
        certs: Option<&[rustls::pki_types::CertificateDer<'static>]>,
    ) -> Result<PeerId, String> {
        let leaf = certs.and_then(|c| c.first()).ok_or("no client certificate")?;
        let peer = consortia_crypto::pki::ed25519_key(leaf)
            .map(PeerId)
            .ok_or("certificate key is not Ed25519")?;
        if !self.allowed.lock().contains(&peer) {
            return Err(format!("node {peer} is not in this chain's node set"));
        }
        if self.is_banned(&peer) {
            return Err(format!("node {peer} is refused for misbehaving"));
        }
        Ok(peer)
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    let mut shutdown = inner.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
            _ = inner.events.closed() => return,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(target: "network", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, inner.acceptor().accept(tcp))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::warn!(target: "network", %addr, error = %e, "refused an inbound TLS connection");
                    return;
                }
                Err(_) => return,
            };
            let peer = match inner.admit(tls.get_ref().1.peer_certificates()) {
                Ok(peer) => peer,
                Err(reason) => {
                    tracing::warn!(target: "network", %addr, reason, "refused an inbound peer");
                    return;
                }
            };
            run_connection(inner, tokio_rustls::TlsStream::Server(tls), peer).await;
        });
    }
}

async fn dial_loop(inner: Arc<Inner>, addr: String) {
    let mut shutdown = inner.shutdown.clone();
    let mut backoff = Duration::from_millis(100);
    loop {
        match dial(&inner, &addr).await {
            Ok((tls, peer)) if peer == inner.me => {
                tracing::debug!(target: "network", %addr, "this address is ourselves; not dialing it");
                drop(tls);
                return;
            }
            Ok((tls, peer)) => {
                // A peer that takes the TLS session and then refuses us (a ban, another chain)
                // is retried with backoff like an unreachable one, not every 100 ms.
                if run_connection(inner.clone(), tls, peer).await {
                    backoff = Duration::from_millis(100);
                }
            }
            Err(reason) => {
                tracing::debug!(target: "network", %addr, reason, "dial failed");
            }
        }
        if inner.events.is_closed() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn dial(
    inner: &Inner,
    addr: &str,
) -> Result<(tokio_rustls::TlsStream<TcpStream>, PeerId), String> {
    let tcp = tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(pki::NODE_DNS_NAME).map_err(|e| e.to_string())?;
    let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, inner.connector().connect(name, tcp))
        .await
        .map_err(|_| "TLS handshake timed out".to_owned())?
        .map_err(|e| format!("TLS: {e}"))?;
    let peer = inner.admit(tls.get_ref().1.peer_certificates())?;
    Ok((tokio_rustls::TlsStream::Client(tls), peer))
}

async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &[u8]) -> std::io::Result<()> {
    w.write_all(&(frame.len() as u32).to_be_bytes()).await?;
    w.write_all(frame).await
}

async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<Vec<u8>> {
    let len = read_len(r, max).await?;
    read_body(r, len).await
}

async fn read_len<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<usize> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {max}-byte limit"),
        ));
    }
    Ok(len)
}

async fn read_body<R: AsyncRead + Unpin>(r: &mut R, len: usize) -> std::io::Result<Vec<u8>> {
    let mut frame = vec![0u8; len];
    r.read_exact(&mut frame).await?;
    Ok(frame)
}

/// Reads the next frame once the connection's budget has room for it (a frame larger than the
/// whole budget waits for all of it).
async fn read_budgeted<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    budget: &Arc<Semaphore>,
) -> std::io::Result<Frame> {
    let len = read_len(r, max).await?;
    let cost = len.clamp(1, RECEIVE_BUDGET) as u32;
    let permit = budget.clone().acquire_many_owned(cost).await.map_err(std::io::Error::other)?;
    let bytes = read_body(r, len).await?;
    Ok(Frame { bytes, credit: Credit { _permit: Some(permit) } })
}

/// Runs one authenticated connection until it closes; false if it never got past the chain
/// handshake.
async fn run_connection(
    inner: Arc<Inner>,
    mut stream: tokio_rustls::TlsStream<TcpStream>,
    peer: PeerId,
) -> bool {
    let max = inner.config.max_frame_bytes;
    let handshake = async {
        write_frame(&mut stream, &inner.config.handshake).await?;
        stream.flush().await?;
        read_frame(&mut stream, max).await
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(theirs)) if theirs == inner.config.handshake => {}
        Ok(Ok(_)) => {
            tracing::warn!(target: "network", peer = %peer, "peer runs another chain (genesis differs); closing");
            return false;
        }
        _ => return false,
    }
    let id = inner.next_conn.fetch_add(1, Ordering::Relaxed);
    let protocol = version_of(stream.get_ref().1.alpn_protocol());
    let (tx, mut rx) = mpsc::channel::<Arc<[u8]>>(SEND_QUEUE);
    let close = Arc::new(Notify::new());
    let first = {
        let mut conns = inner.conns.lock();
        let list = conns.entry(peer).or_default();
        list.push(Conn { id, protocol, tx, close: close.clone() });
        list.len() == 1
    };
    if first {
        tracing::info!(target: "network", peer = %peer, protocol, "peer connected");
        let _ = inner.events.send(NetEvent::Connected(peer)).await;
    }
    let (mut reader, mut writer) = tokio::io::split(stream);
    let writing = async {
        while let Some(frame) = rx.recv().await {
            write_frame(&mut writer, &frame).await?;
            if rx.is_empty() {
                writer.flush().await?;
            }
        }
        Ok::<(), std::io::Error>(())
    };
    let budget = Arc::new(Semaphore::new(RECEIVE_BUDGET));
    let reading = async {
        loop {
            let frame = read_budgeted(&mut reader, max, &budget).await?;
            if inner.events.send(NetEvent::Frame(peer, frame)).await.is_err() {
                return Ok::<(), std::io::Error>(());
            }
        }
    };
    let mut shutdown = inner.shutdown.clone();
    let ended = tokio::select! {
        r = writing => r.err().map(|e| e.to_string()),
        r = reading => r.err().map(|e| e.to_string()),
        _ = close.notified() => Some("closed by this node".into()),
        _ = shutdown.changed() => None,
    };
    if let Some(reason) = ended {
        tracing::debug!(target: "network", peer = %peer, reason, "connection ended");
    }
    let last = {
        let mut conns = inner.conns.lock();
        let list = conns.entry(peer).or_default();
        list.retain(|c| c.id != id);
        let empty = list.is_empty();
        if empty {
            conns.remove(&peer);
        }
        empty
    };
    if last {
        tracing::info!(target: "network", peer = %peer, "peer disconnected");
        let _ = inner.events.send(NetEvent::Disconnected(peer)).await;
    }
    true
}
