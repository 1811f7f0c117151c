//! Signalling and watching processes by pid (for processes this one did not start, or no
//! longer holds a handle to), without `unsafe`: `kill(1)` and `/proc`.

use std::time::Duration;

/// A signal to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Term,
    Kill,
}

/// Sends `signal` to `pid`. False if the process is gone (or not ours to signal).
pub fn signal(pid: u32, signal: Signal) -> bool {
    send(&pid.to_string(), signal)
}

/// Sends `signal` to the process group `pgid` (a process started as its own group leader, and
/// whatever it started).
pub fn signal_group(pgid: u32, signal: Signal) -> bool {
    send(&format!("-{pgid}"), signal)
}

fn send(target: &str, signal: Signal) -> bool {
    let name = match signal {
        Signal::Term => "-TERM",
        Signal::Kill => "-KILL",
    };
    std::process::Command::new("kill")
        .args([name, "--", target])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The command line of a live process (`None` if gone or a zombie).
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    (!raw.is_empty()).then(|| String::from_utf8_lossy(&raw).replace('\0', " "))
}

/// Stops the process group led by `pid`: SIGTERM, and SIGKILL if the leader still runs after
/// `grace`. True once the leader is gone.
pub async fn terminate(pid: u32, grace: Duration) -> bool {
    if !signal_group(pid, Signal::Term) && !signal(pid, Signal::Term) {
        return cmdline(pid).is_none();
    }
    let deadline = tokio::time::Instant::now() + grace;
    while cmdline(pid).is_some() {
        if tokio::time::Instant::now() >= deadline {
            signal_group(pid, Signal::Kill);
            tokio::time::sleep(Duration::from_millis(50)).await;
            return cmdline(pid).is_none();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}
