//! The only `unsafe` of the crate: what a function process does between `fork` and `exec`.
//!
//! [`Plan::install`] adds a `pre_exec` hook to the command the watchdog is about to spawn. In the
//! child, before `exec`, the hook:
//! 1. joins the replica's cgroups (writes `0` to each `cgroup.procs`), so limits apply and the
//!    provider can find every descendant;
//! 2. when mount isolation is on: `unshare(CLONE_NEWNS)`, makes every mount private, mounts a
//!    fresh tmpfs at `/var/openfaas/secrets`, writes the replica's secrets into it, remounts it
//!    read-only, bind-mounts the replica's scratch directory at `/tmp` and changes directory to
//!    it. Decrypted secrets therefore only ever exist in that process's own tmpfs.
//!
//! Everything the hook touches (paths as C strings, secret bytes) is allocated before `fork` and
//! only read in the child; the hook calls only async-signal-safe syscalls (`open`, `write`,
//! `close`, `unshare`, `mount`, `chdir`) and builds errors with `io::Error::last_os_error` (no
//! allocation).
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

/// Where OpenFaaS functions read their secrets.
pub(crate) const SECRETS_DIR: &str = faas_core::SECRETS_MOUNT_PATH;

/// The secrets a replica mounts: name and value.
pub(crate) type SecretFiles = [(String, Vec<u8>)];

/// Everything the child needs, prepared before `fork`.
#[derive(Default)]
pub(crate) struct Plan {
    cgroup_procs: Vec<CString>,
    mounts: Option<Mounts>,
}

struct Mounts {
    secrets_dir: CString,
    tmpfs: CString,
    tmpfs_opts: CString,
    secrets: Vec<(CString, Vec<u8>)>,
    tmp_src: CString,
    tmp_dst: CString,
    root: CString,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("cgroups", &self.cgroup_procs.len())
            .field("mounts", &self.mounts.is_some())
            .finish()
    }
}

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
}

impl Plan {
    /// A plan that joins the cgroups in `cgroup_dirs` and, when `mounts` is given as
    /// `(scratch dir, secrets)`, isolates the mount namespace.
    pub(crate) fn new(
        cgroup_dirs: &[std::path::PathBuf],
        mounts: Option<(&Path, &SecretFiles)>,
    ) -> io::Result<Self> {
        let cgroup_procs = cgroup_dirs
            .iter()
            .map(|d| cstring(&d.join("cgroup.procs")))
            .collect::<io::Result<_>>()?;
        let mounts = match mounts {
            None => None,
            Some((tmp, secrets)) => Some(Mounts {
                secrets_dir: cstring(Path::new(SECRETS_DIR))?,
                tmpfs: c"tmpfs".to_owned(),
                tmpfs_opts: c"mode=0755,size=16m".to_owned(),
                secrets: secrets
                    .iter()
                    .map(|(name, value)| {
                        Ok((cstring(&Path::new(SECRETS_DIR).join(name))?, value.clone()))
                    })
                    .collect::<io::Result<_>>()?,
                tmp_src: cstring(tmp)?,
                tmp_dst: c"/tmp".to_owned(),
                root: c"/".to_owned(),
            }),
        };
        Ok(Self {
            cgroup_procs,
            mounts,
        })
    }

    /// Whether the plan does anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.cgroup_procs.is_empty() && self.mounts.is_none()
    }

    /// Adds the plan as a `pre_exec` hook of `cmd`.
    pub(crate) fn install(self: &Arc<Self>, cmd: &mut tokio::process::Command) {
        if self.is_empty() {
            return;
        }
        let plan = Arc::clone(self);
        // SAFETY: the closure runs in the forked child before exec. It only reads data prepared
        // before the fork (the Arc keeps it alive and is never cloned or dropped in the child)
        // and only makes async-signal-safe syscalls; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || plan.apply());
        }
    }

    /// Runs in the child: see the module docs.
    fn apply(&self) -> io::Result<()> {
        for path in &self.cgroup_procs {
            write_file(path, b"0", libc::O_WRONLY)?;
        }
        let Some(m) = &self.mounts else { return Ok(()) };
        // SAFETY (all calls below): plain syscalls on NUL-terminated strings that outlive them.
        check(unsafe { libc::unshare(libc::CLONE_NEWNS) })?;
        check(unsafe {
            libc::mount(
                std::ptr::null(),
                m.root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        })?;
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        check(unsafe {
            libc::mount(
                m.tmpfs.as_ptr(),
                m.secrets_dir.as_ptr(),
                m.tmpfs.as_ptr(),
                flags,
                m.tmpfs_opts.as_ptr().cast(),
            )
        })?;
        for (path, value) in &m.secrets {
            let fd = open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o444)?;
            let result = write_all(fd, value);
            // SAFETY: fd was opened above and is closed once.
            unsafe { libc::close(fd) };
            result?;
        }
        check(unsafe {
            libc::mount(
                std::ptr::null(),
                m.secrets_dir.as_ptr(),
                std::ptr::null(),
                libc::MS_REMOUNT | libc::MS_RDONLY | flags,
                std::ptr::null(),
            )
        })?;
        check(unsafe {
            libc::mount(
                m.tmp_src.as_ptr(),
                m.tmp_dst.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            )
        })?;
        check(unsafe { libc::chdir(m.tmp_dst.as_ptr()) })
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn open(path: &CString, flags: libc::c_int, mode: libc::mode_t) -> io::Result<libc::c_int> {
    // SAFETY: path is NUL-terminated and outlives the call.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(fd)
    }
}

fn write_all(fd: libc::c_int, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: bytes is a valid slice for its length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        bytes = &bytes[n.unsigned_abs()..];
    }
    Ok(())
}

fn write_file(path: &CString, bytes: &[u8], flags: libc::c_int) -> io::Result<()> {
    let fd = open(path, flags, 0)?;
    let result = write_all(fd, bytes);
    // SAFETY: fd was opened above and is closed once.
    unsafe { libc::close(fd) };
    result
}

/// Whether this process may isolate function processes: spawns `true` through a plan that
/// unshares the mount namespace and makes mounts private, and reports whether it ran.
pub(crate) async fn probe(true_bin: &Path, scratch: &Path) -> bool {
    let Ok(plan) = Plan::new(&[], Some((scratch, &[]))) else {
        return false;
    };
    let plan = Arc::new(plan);
    let mut cmd = tokio::process::Command::new(true_bin);
    cmd.env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    plan.install(&mut cmd);
    match cmd.status().await {
        Ok(status) => status.success(),
        Err(e) => {
            tracing::info!(error = %e, "mount isolation unavailable; using the fallback");
            false
        }
    }
}
