//! A webhook receiver for end-to-end tests (shared by the test files that `mod receiver;`
//! it): a loopback HTTP server that answers every POST 200 and keeps what it got, and the
//! check of a delivery's signature.

#![allow(dead_code, unreachable_pub)] // each test file uses a part

use std::sync::Arc;

/// A request a webhook receiver got: its headers (lowercase names) and body.
pub type Received = (std::collections::HashMap<String, String>, Vec<u8>);

/// A webhook receiver on `listener`: answers every POST 200 and keeps what it got.
pub fn receive(listener: tokio::net::TcpListener) -> Arc<std::sync::Mutex<Vec<Received>>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let got = Arc::new(std::sync::Mutex::new(vec![]));
    let keep = got.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut buf = vec![];
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    let n = socket.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "closed mid-request");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        break (end + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = socket.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let headers = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
                    .collect();
                keep.lock().unwrap().push((headers, buf[head_end..head_end + length].to_vec()));
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                socket.write_all(answer).await.unwrap();
            });
        }
    });
    got
}

/// Whether `signature` is the HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub fn signed_by(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .is_some_and(|s| mac.verify_slice(&s).is_ok())
}
