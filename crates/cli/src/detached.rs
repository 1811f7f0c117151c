//! Processes of this program that outlive the command that started them (`net up`'s nodes,
//! `up`'s platform): started in their own process group with their output in a log file and
//! their pid in a file, and found again later by that file.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Stdio};

use anyhow::{Context, Result};

/// Starts this program with `args` (and `env`), detached: its own process group (Ctrl-C in
/// this terminal does not reach it), stdin closed, output appended to `log`, pid written to
/// `pid_file`. The handle tells the caller if it exits early.
pub(crate) fn spawn(
    args: &[&OsStr],
    env: &[(&str, &str)],
    log: &Path,
    pid_file: &Path,
) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let exe = std::env::current_exe().context("cannot find the consortia executable")?;
    let child = std::process::Command::new(exe)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start `consortia {}`", args[0].to_string_lossy()))?;
    std::fs::write(pid_file, child.id().to_string())?;
    Ok(child)
}

/// The pid in `pid_file` if that process still runs and its command line contains every one
/// of `marks` (the pid may have been reused by another program since).
pub(crate) fn running(pid_file: &Path, marks: &[&str]) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()?;
    let line = consortia_hosts::process::cmdline(pid)?;
    marks.iter().all(|m| line.contains(m)).then_some(pid)
}
