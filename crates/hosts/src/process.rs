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

/// Whether `pid` has exited: no such process, or a zombie. An empty command line is not
/// enough: a dying process releases its memory (and with it its command line) before it closes
/// its files, and its files hold its locks (a node's database), so a process started in that
/// window finds the database "already open".
pub fn exited(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return true };
    // `pid (comm) S …`: the state follows the last `)` (the command name may hold one).
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, None | Some('Z' | 'X'))
}

/// Stops the process group led by `pid`: SIGTERM, and SIGKILL if the leader still runs after
/// `grace`. True once the leader has [`exited`] (its files closed).
pub async fn terminate(pid: u32, grace: Duration) -> bool {
    if !signal_group(pid, Signal::Term) && !signal(pid, Signal::Term) {
        return exited(pid);
    }
    let deadline = tokio::time::Instant::now() + grace;
    while !exited(pid) {
        if tokio::time::Instant::now() >= deadline {
            signal_group(pid, Signal::Kill);
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if exited(pid) {
                    return true;
                }
            }
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}
