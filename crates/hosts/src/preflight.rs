//! Checks a host passes before it runs nodes, beside reaching it: its clock agrees with this
//! machine's (blocks carry times that validators check, certificates and tokens have validity
//! windows), and it has room for a chain's data.

use std::path::Path;

use crate::HostError;

/// The most a host's clock may differ from this machine's.
pub(crate) const MAX_CLOCK_SKEW_MS: i64 = 5_000;
/// The least free space a host needs for its nodes' data.
pub(crate) const MIN_FREE_BYTES: u64 = 1 << 30;

/// Milliseconds since the Unix epoch now.
fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Refuses a host whose clock, read as `remote` (RFC 3339, as the Docker Engine gives it),
/// differs from this machine's by more than [`MAX_CLOCK_SKEW_MS`].
pub(crate) fn check_clock(host: &str, remote: &str) -> Result<(), HostError> {
    let Some(theirs) = rfc3339_ms(remote) else {
        return Err(HostError::Io(format!("{host} gave an unreadable time `{remote}`")));
    };
    check_skew(host, theirs)
}

/// [`check_clock`] of a time read already (an HTTP `Date`, to the second).
pub(crate) fn check_clock_at(host: &str, remote: std::time::SystemTime) -> Result<(), HostError> {
    let theirs = remote.duration_since(std::time::UNIX_EPOCH);
    let theirs = theirs.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0);
    // A `Date` drops the fraction of its second: give it back half of one.
    check_skew(host, theirs + 500)
}

fn check_skew(host: &str, theirs: i64) -> Result<(), HostError> {
    let skew = theirs - now_ms();
    if skew.abs() > MAX_CLOCK_SKEW_MS {
        let side = if skew > 0 { "ahead of" } else { "behind" };
        return Err(HostError::Io(format!(
            "the clock of {host} is {:.1} s {side} this machine's (at most {} s is allowed): synchronize both (NTP, chrony), since blocks, certificates and tokens carry times",
            skew.abs() as f64 / 1000.0,
            MAX_CLOCK_SKEW_MS / 1000
        )));
    }
    Ok(())
}

/// Refuses a directory with less than [`MIN_FREE_BYTES`] free.
pub(crate) fn check_free_space(dir: &Path) -> Result<(), HostError> {
    let stats = rustix::fs::statvfs(dir)
        .map_err(|e| HostError::Io(format!("reading the free space of {}: {e}", dir.display())))?;
    room(dir, stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// Refuses `free` bytes on `dir` if fewer than [`MIN_FREE_BYTES`].
fn room(dir: &Path, free: u64) -> Result<(), HostError> {
    if free < MIN_FREE_BYTES {
        return Err(HostError::Io(format!(
            "only {} MiB are free on {} (a node needs at least {} MiB for its chain): free some space or use another host",
            free >> 20,
            dir.display(),
            MIN_FREE_BYTES >> 20
        )));
    }
    Ok(())
}

/// `2026-12-02T18:11:01.946423726Z` or with an offset (`+08:00`) as ms since the Unix epoch.
fn rfc3339_ms(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut ymd = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (clock, offset_s) = match time.strip_suffix(['Z', 'z']) {
        Some(clock) => (clock, 0),
        None => {
            let at = time.rfind(['+', '-'])?;
            let (clock, offset) = time.split_at(at);
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (oh, om) = offset[1..].split_once(':')?;
            (clock, sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60))
        }
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, "0"));
    let mut parts = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (parts.next()??, parts.next()??, parts.next()??);
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss - offset_s) * 1000) + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_times_are_read_with_their_offset() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_ms("2026-12-02T18:11:01.946423726Z"), Some(1_796_235_061_946));
        assert_eq!(
            rfc3339_ms("2026-12-03T02:11:01.946+08:00"),
            rfc3339_ms("2026-12-02T18:11:01.946Z")
        );
        assert_eq!(rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn a_host_whose_clock_is_off_is_refused_and_one_in_step_passes() {
        let at = |ms: i64| civil(ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000) / 1000);
        assert!(check_clock("engine", &at(now_ms())).is_ok());
        let off = check_clock("engine", &at(now_ms() + 60_000)).unwrap_err().to_string();
        assert!(off.contains("ahead of") && off.contains("NTP"), "{off}");
        assert!(check_clock("engine", &at(now_ms() - 60_000)).is_err());
    }

    /// The RFC 3339 text of `days` after the epoch plus `seconds`.
    fn civil(days: i64, seconds: i64) -> String {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        let (h, mi, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }

    #[test]
    fn a_host_short_of_space_is_refused_with_what_it_has() {
        let dir = Path::new("/var/lib/consortia");
        let short = room(dir, 10 << 20).unwrap_err().to_string();
        assert!(short.contains("only 10 MiB are free on /var/lib/consortia"), "{short}");
        assert!(room(dir, 2 << 30).is_ok());
        assert!(check_free_space(Path::new("/no/such/dir")).is_err());
    }
}
