//! Memory and CPU limits through cgroups, and a per-replica cgroup that lets the provider find
//! and kill every process a replica started.
//!
//! Detection, in order:
//! - **cgroup v2** when `/sys/fs/cgroup/cgroup.controllers` lists `memory` and `cpu`: the
//!   provider uses `/sys/fs/cgroup/faas-local/<subtree>/<replica>` with `memory.max` and
//!   `cpu.max`.
//! - **cgroup v1** when the `memory` and `cpu` hierarchies are mounted and writable (as on
//!   hosts and containers still on the legacy layout): `<hierarchy>/<own cgroup>/<subtree>/<replica>`
//!   with `memory.limit_in_bytes` and `cpu.cfs_quota_us`.
//! - otherwise **none**: limits are stored but not enforced, and `info()` says so.
//!
//! `<subtree>` is `faas-local-<hash of the data directory>`: at start the provider kills what a
//! previous run on the same data directory left in it, and never touches other providers'.
//!
//! Function processes join the replica's cgroup themselves before `exec` (see
//! [`crate::isolate`]) by writing `0` to each `cgroup.procs`, so no child escapes it.

use std::fs;
use std::path::{Path, PathBuf};

use faas_core::FunctionResources;

const V2_ROOT: &str = "/sys/fs/cgroup";
const SUBTREE: &str = "faas-local";

/// The provider's subtree name: `faas-local-<hash of the data directory>`, so providers on
/// different data directories never touch each other's cgroups.
fn subtree(data_dir: &Path) -> String {
    // FNV-1a: stable across builds and releases.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data_dir.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{SUBTREE}-{:08x}", h as u32)
}

/// Which cgroup layout the provider drives.
#[derive(Debug, Clone)]
pub(crate) enum Cgroups {
    /// Unified hierarchy: the provider's subtree.
    V2 { base: PathBuf },
    /// Legacy hierarchies: the provider's subtree in the memory and cpu controllers.
    V1 { memory: PathBuf, cpu: PathBuf },
    /// No usable cgroups.
    None,
}

/// One replica's cgroup directories.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplicaCgroup {
    /// The directories whose `cgroup.procs` each process joins.
    pub(crate) dirs: Vec<PathBuf>,
}

fn own_path(controller: &str) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        ctrls
            .split(',')
            .any(|c| c == controller)
            .then(|| path.trim_start_matches('/').to_owned())
    })
}

fn try_dir(dir: &Path) -> bool {
    fs::create_dir_all(dir).is_ok() && dir.join("cgroup.procs").exists()
}

impl Cgroups {
    /// Finds a usable layout and creates the provider's subtree in it.
    pub(crate) fn detect(data_dir: &Path) -> Self {
        let root = Path::new(V2_ROOT);
        let name = subtree(data_dir);
        if let Ok(ctrls) = fs::read_to_string(root.join("cgroup.controllers")) {
            let has = |c: &str| ctrls.split_whitespace().any(|x| x == c);
            if has("memory") && has("cpu") {
                let base = root.join(SUBTREE).join(&name);
                let _ = fs::create_dir_all(root.join(SUBTREE));
                let _ = fs::write(
                    root.join(SUBTREE).join("cgroup.subtree_control"),
                    "+memory +cpu",
                );
                let _ = fs::write(root.join("cgroup.subtree_control"), "+memory +cpu");
                if try_dir(&base)
                    && fs::write(base.join("cgroup.subtree_control"), "+memory +cpu").is_ok()
                {
                    return Cgroups::V2 { base };
                }
            }
        }
        let (mem_root, cpu_root) = (root.join("memory"), root.join("cpu"));
        if mem_root.join("cgroup.procs").exists() && cpu_root.join("cgroup.procs").exists() {
            let memory = mem_root
                .join(own_path("memory").unwrap_or_default())
                .join(&name);
            let cpu = cpu_root
                .join(own_path("cpu").unwrap_or_default())
                .join(&name);
            if try_dir(&memory) && try_dir(&cpu) {
                return Cgroups::V1 { memory, cpu };
            }
        }
        Cgroups::None
    }

    /// Kills the processes left in replica cgroups by a previous run that ended without
    /// stopping them, and removes those cgroups.
    pub(crate) fn reap_stale(&self) {
        let bases: Vec<&PathBuf> = match self {
            Cgroups::V2 { base } => vec![base],
            Cgroups::V1 { memory, cpu } => vec![memory, cpu],
            Cgroups::None => Vec::new(),
        };
        for base in bases {
            let Ok(entries) = fs::read_dir(base) else {
                continue;
            };
            for dir in entries.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()) {
                let stale = ReplicaCgroup {
                    dirs: vec![dir.path()],
                };
                for pid in stale.pids() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                for _ in 0..100 {
                    if stale.pids().is_empty() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                let _ = stale.remove();
            }
        }
    }

    /// Removes the provider's (empty) subtree, after its replicas are gone.
    pub(crate) fn remove_subtree(&self) {
        let bases: Vec<&PathBuf> = match self {
            Cgroups::V2 { base } => vec![base],
            Cgroups::V1 { memory, cpu } => vec![memory, cpu],
            Cgroups::None => Vec::new(),
        };
        for base in bases {
            if let Err(e) = fs::remove_dir(base) {
                tracing::debug!(dir = %base.display(), error = %e, "removing the provider's cgroup subtree");
            }
        }
    }

    /// The layout in use (`cgroup v2`, `cgroup v1`), `None` when there is none.
    pub(crate) fn describe(&self) -> Option<&'static str> {
        match self {
            Cgroups::V2 { .. } => Some("cgroup v2"),
            Cgroups::V1 { .. } => Some("cgroup v1"),
            Cgroups::None => None,
        }
    }

    /// Whether limits are enforced.
    pub(crate) fn enforced(&self) -> bool {
        !matches!(self, Cgroups::None)
    }

    /// Creates the cgroup of replica `id` with `limits` applied.
    pub(crate) fn create(
        &self,
        id: &str,
        limits: Option<&FunctionResources>,
    ) -> std::io::Result<ReplicaCgroup> {
        let memory = limits.and_then(|l| parse_memory(&l.memory));
        let cpu_millis = limits.and_then(|l| parse_cpu_millis(&l.cpu));
        const PERIOD: u64 = 100_000;
        match self {
            Cgroups::None => Ok(ReplicaCgroup::default()),
            Cgroups::V2 { base } => {
                let dir = base.join(id);
                fs::create_dir_all(&dir)?;
                if let Some(m) = memory {
                    fs::write(dir.join("memory.max"), m.to_string())?;
                    let _ = fs::write(dir.join("memory.swap.max"), "0");
                }
                if let Some(c) = cpu_millis {
                    fs::write(
                        dir.join("cpu.max"),
                        format!("{} {PERIOD}", (c * PERIOD / 1000).max(1000)),
                    )?;
                }
                Ok(ReplicaCgroup { dirs: vec![dir] })
            }
            Cgroups::V1 {
                memory: mem_base,
                cpu: cpu_base,
            } => {
                let (mdir, cdir) = (mem_base.join(id), cpu_base.join(id));
                fs::create_dir_all(&mdir)?;
                fs::create_dir_all(&cdir)?;
                if let Some(m) = memory {
                    fs::write(mdir.join("memory.limit_in_bytes"), m.to_string())?;
                }
                if let Some(c) = cpu_millis {
                    fs::write(cdir.join("cpu.cfs_period_us"), PERIOD.to_string())?;
                    fs::write(
                        cdir.join("cpu.cfs_quota_us"),
                        (c * PERIOD / 1000).max(1000).to_string(),
                    )?;
                }
                Ok(ReplicaCgroup {
                    dirs: vec![mdir, cdir],
                })
            }
        }
    }
}

impl ReplicaCgroup {
    /// Every process id in the replica's cgroups.
    pub(crate) fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .dirs
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|t| {
                t.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Removes the (empty) cgroup directories; `true` when none is left.
    pub(crate) fn remove(&self) -> bool {
        let mut all = true;
        for d in &self.dirs {
            match fs::remove_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::debug!(dir = %d.display(), error = %e, "removing cgroup");
                    all = false;
                }
            }
        }
        all
    }
}

/// Bytes in a Kubernetes memory quantity (`128Mi`, `1G`, `134217728`, `1e9`); `None` if unset
/// or unparsable.
pub(crate) fn parse_memory(q: &str) -> Option<u64> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (num, mult) = SUFFIXES
        .iter()
        .find_map(|(s, m)| q.strip_suffix(s).map(|n| (n, *m)))
        .unwrap_or((q, 1.0));
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v > 0.0).then_some((v * mult) as u64)
}

/// Millicores in a Kubernetes CPU quantity (`100m`, `0.5`, `2`); `None` if unset or unparsable.
pub(crate) fn parse_cpu_millis(q: &str) -> Option<u64> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let v = match q.strip_suffix('m') {
        Some(m) => m.parse::<f64>().ok()?,
        None => q.parse::<f64>().ok()? * 1000.0,
    };
    (v.is_finite() && v > 0.0).then_some(v.ceil() as u64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse() {
        assert_eq!(parse_memory("128Mi"), Some(128 * 1024 * 1024));
        assert_eq!(parse_memory("1G"), Some(1_000_000_000));
        assert_eq!(parse_memory("4096"), Some(4096));
        assert_eq!(parse_memory(""), None);
        assert_eq!(parse_cpu_millis("100m"), Some(100));
        assert_eq!(parse_cpu_millis("0.5"), Some(500));
        assert_eq!(parse_cpu_millis("2"), Some(2000));
        assert_eq!(parse_cpu_millis("x"), None);
    }
}
