//! Small file-system helpers: private directories and atomic, durable writes.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{LocalError, LocalResult};

/// Creates `dir` (and parents) with mode 0700 and makes sure it has that mode.
pub(crate) fn private_dir(dir: &Path) -> LocalResult<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(LocalError::io("creating directory", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(LocalError::io("setting permissions of", dir))
}

/// Writes `bytes` to `path` atomically: a 0600 temp file beside it, fsync, rename, fsync of
/// the directory. A crash leaves either the old or the new content, never a mix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> LocalResult<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(LocalError::io("creating", &tmp))?;
        f.write_all(bytes)
            .map_err(LocalError::io("writing", &tmp))?;
        f.sync_all().map_err(LocalError::io("syncing", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(LocalError::io("renaming into", path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LocalError::io("syncing directory", dir))
}

/// Removes `path` if it exists.
pub(crate) fn remove_file_if_exists(path: &Path) -> LocalResult<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(LocalError::io("removing", path)(e))
        }
        _ => Ok(()),
    }
}
