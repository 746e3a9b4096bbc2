//! The agent's durable state (`--state-dir`, a hostPath in the `DaemonSet`): one status file
//! and one run file per recording, so recordings and their ids outlive restarts and rollouts.
//!
//! ```text
//! <state-dir>/recordings/<ULID>.status.json   what GET /recordings/{id} shows
//! <state-dir>/recordings/<ULID>.run.json      the run file, once the recording is done
//! ```
//!
//! The folder is on the node, where other root processes could plant links or huge files, so
//! it is treated as hostile: both folders must be real folders owned by the agent's user and
//! writable by no one else; files are written atomically under random names (never through a
//! planted link, see [`crate::run::write_atomically`]), read with `O_NOFOLLOW`, only when they
//! are regular files, and only up to a bound; names that are not `<ULID>.<kind>.json` are
//! left alone.
use std::{
    fs,
    io::Read as _,
    os::unix::fs::{MetadataExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
};

use ulid::Ulid;

use crate::run::PRIVATE_MODE;

/// Largest status file read back: a status names at most 64 targets.
pub const MAX_STATUS_BYTES: u64 = 1 << 20;

/// The two files of a recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Status,
    Run,
}

impl FileKind {
    const fn suffix(self) -> &'static str {
        match self {
            Self::Status => ".status.json",
            Self::Run => ".run.json",
        }
    }
}

/// The recordings folder of a state directory, checked.
#[derive(Debug, Clone)]
pub struct StateDir {
    recordings: PathBuf,
}

/// Why the state directory cannot be used, in one sentence.
#[derive(Debug, thiserror::Error)]
#[error("--state-dir {path}: {reason}")]
pub struct StateDirError {
    pub path: PathBuf,
    pub reason: String,
}

impl StateDir {
    /// Creates (mode 0700) or checks `<root>` and `<root>/recordings`.
    pub fn open(root: &Path) -> Result<Self, StateDirError> {
        let recordings = root.join("recordings");
        for dir in [root, recordings.as_path()] {
            check_or_create(dir).map_err(|reason| StateDirError {
                path: dir.to_owned(),
                reason,
            })?;
        }
        Ok(Self { recordings })
    }

    /// The path of one file of recording `id`.
    #[must_use]
    pub fn path(&self, id: Ulid, kind: FileKind) -> PathBuf {
        self.recordings.join(format!("{id}{}", kind.suffix()))
    }

    /// Replaces a file of a recording atomically (0600).
    pub fn write(&self, id: Ulid, kind: FileKind, bytes: &[u8]) -> std::io::Result<()> {
        crate::run::write_atomically(&self.path(id, kind), bytes, PRIVATE_MODE)
    }

    /// Reads a file of a recording: a regular file, not a link, of at most `max_bytes`.
    pub fn read(&self, id: Ulid, kind: FileKind, max_bytes: u64) -> std::io::Result<String> {
        read_bounded(&self.path(id, kind), max_bytes)
    }

    /// The size of a file of a recording, 0 when it is absent.
    #[must_use]
    pub fn size(&self, id: Ulid, kind: FileKind) -> u64 {
        fs::symlink_metadata(self.path(id, kind)).map_or(0, |m| m.len())
    }

    /// Deletes both files of a recording (a missing one is fine).
    pub fn remove(&self, id: Ulid) {
        for kind in [FileKind::Run, FileKind::Status] {
            let _ = fs::remove_file(self.path(id, kind));
        }
    }

    /// The ids of every recording with a status file, oldest first (ULIDs sort by time).
    pub fn ids(&self) -> std::io::Result<Vec<Ulid>> {
        let mut ids: Vec<Ulid> = fs::read_dir(&self.recordings)?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name();
                let name = name.to_str()?;
                let id = name.strip_suffix(FileKind::Status.suffix())?;
                Ulid::from_string(id).ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }
}

/// A folder the agent may keep state in: created if missing (0700); otherwise a real folder
/// (not a link), owned by this user, that no one else may write to.
fn check_or_create(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt as _;
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create it ({e}); give a writable folder")),
        Err(e) => Err(format!("cannot read it ({e})")),
        Ok(meta) if meta.file_type().is_symlink() => Err(
            "is a symbolic link; give the real folder (a link there could send the agent's files anywhere)"
                .to_owned(),
        ),
        Ok(meta) if !meta.is_dir() => Err("is not a folder".to_owned()),
        // SAFETY: geteuid has no preconditions and cannot fail.
        Ok(meta) if meta.uid() != unsafe { libc::geteuid() } => Err(format!(
            "is owned by user {}, not by the agent's user; give a folder of the agent's own",
            meta.uid()
        )),
        Ok(meta) if meta.mode() & 0o022 != 0 => Err(format!(
            "may be written by other users (mode {:o}); chmod go-w it",
            meta.mode() & 0o777
        )),
        Ok(_) => Ok(()),
    }
}

/// Reads a regular file that is not a symbolic link, refusing one larger than `max_bytes`.
pub fn read_bounded(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    let mut text = String::new();
    file.take(max_bytes + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max_bytes} bytes"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_links_foreign_files_and_oversized_files() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().unwrap();
        let state = StateDir::open(&root.path().join("state")).unwrap();
        let id = Ulid::new();
        state.write(id, FileKind::Status, b"{}").unwrap();
        assert_eq!(state.read(id, FileKind::Status, 10).unwrap(), "{}");
        assert!(state.read(id, FileKind::Status, 1).is_err(), "bounded");

        // A link planted where a file is read is not followed.
        let secret = root.path().join("secret");
        fs::write(&secret, "secret").unwrap();
        let planted = Ulid::new();
        std::os::unix::fs::symlink(&secret, state.path(planted, FileKind::Run)).unwrap();
        assert!(state.read(planted, FileKind::Run, 100).is_err());
        // Writing replaces the link, never its target.
        state.write(planted, FileKind::Run, b"run").unwrap();
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");

        // Only well-named status files are recordings.
        fs::write(root.path().join("state/recordings/notes.txt"), "").unwrap();
        assert_eq!(state.ids().unwrap(), vec![id]);

        // A linked or shared state folder is refused.
        let link = root.path().join("link");
        std::os::unix::fs::symlink(root.path().join("state"), &link).unwrap();
        let error = StateDir::open(&link).unwrap_err().to_string();
        assert!(error.contains("is a symbolic link"), "{error}");
        let shared = root.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
        let error = StateDir::open(&shared).unwrap_err().to_string();
        assert!(error.contains("may be written by other users"), "{error}");
    }
}
