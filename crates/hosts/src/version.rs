//! What build a node program is: `<crate version>-<first 12 hex digits of its SHA-256>`, so a
//! rebuilt binary is a new version even when the crate's version did not change. Hashing a
//! ~100 MB binary takes a while, so the answer is kept per path while the file's size and
//! modification time stay the same. It is hashed as it is read, 64 KiB at a time: reading it
//! whole put the binary's size (330 MiB for a release build with debug info) on the
//! platform's peak memory at every start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::HostError;

/// The file's identity the cached version holds for: size and modification time.
type Stamp = (u64, Option<SystemTime>);

static KNOWN: Mutex<Option<HashMap<PathBuf, (Stamp, String)>>> = Mutex::new(None);

/// The version of the node program at `program`, e.g. `0.1.0-4ac1073d3cac`.
pub fn program_version(program: &Path) -> Result<String, HostError> {
    let read = |e: std::io::Error| {
        HostError::Io(format!("reading the node program {}: {e}", program.display()))
    };
    let meta = std::fs::metadata(program).map_err(read)?;
    let stamp = (meta.len(), meta.modified().ok());
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    let known = known.get_or_insert_with(HashMap::new);
    if let Some((at, version)) = known.get(program)
        && *at == stamp
    {
        return Ok(version.clone());
    }
    let mut hasher = Sha256::new();
    let file = std::fs::File::open(program).map_err(read)?;
    std::io::copy(&mut std::io::BufReader::with_capacity(1 << 16, file), &mut hasher)
        .map_err(read)?;
    let digest: String = hasher.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect();
    let version = format!("{}-{digest}", env!("CARGO_PKG_VERSION"));
    known.insert(program.to_path_buf(), (stamp, version.clone()));
    Ok(version)
}

/// [`program_version`] off the async threads (the first call for a build reads all of it).
pub(crate) async fn installed_version(program: &Path) -> Result<String, HostError> {
    let program = program.to_path_buf();
    tokio::task::spawn_blocking(move || program_version(&program))
        .await
        .map_err(|e| HostError::Io(format!("hashing the node program: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebuilt_program_is_a_new_version() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("consortia");
        std::fs::write(&program, b"build one").unwrap();
        let first = program_version(&program).unwrap();
        assert!(first.starts_with(concat!(env!("CARGO_PKG_VERSION"), "-")), "{first}");
        assert_eq!(program_version(&program).unwrap(), first);
        let next = dir.path().join("consortia.next");
        std::fs::write(&next, b"build two, longer").unwrap();
        std::fs::rename(&next, &program).unwrap();
        assert_ne!(program_version(&program).unwrap(), first);
    }
}
