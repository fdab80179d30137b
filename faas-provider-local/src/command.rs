//! The function's command: `envProcess` (or `envVars.fprocess`) split on whitespace into an
//! argv, as the OpenFaaS watchdog does, and checked at deploy time.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use faas_core::{Error, FunctionDeployment};

/// Splits a command line on whitespace (no quoting, as the OpenFaaS watchdog does).
pub(crate) fn split(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_owned).collect()
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds `program` as an absolute or relative path, or in `search_path` (a `PATH` value).
pub(crate) fn resolve(program: &str, search_path: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    search_path
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| is_executable(p))
}

/// The field a deployment's command came from, for error messages.
fn field(d: &FunctionDeployment) -> &'static str {
    if d.env_process.is_empty() {
        "envVars.fprocess"
    } else {
        "envProcess"
    }
}

/// Whether `path` lies in the host's `/tmp`, which an isolated replica does not see.
fn in_host_tmp(path: &Path) -> bool {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    path.starts_with("/tmp")
}

/// Checks that the deployment has a command whose program exists and is executable, looked up
/// in `search_path` (the function's `PATH`). `InvalidInput` naming the field otherwise.
///
/// With `private_tmp` (isolated replicas get their own empty `/tmp`), a program or an absolute
/// path argument under the host's `/tmp` is refused too: the function could never see it, and
/// the deploy would otherwise be accepted and fail at every call.
pub(crate) fn check(
    d: &FunctionDeployment,
    search_path: &str,
    private_tmp: bool,
) -> Result<(), Error> {
    let Some(command) = d.fprocess() else {
        return Err(Error::invalid(
            "envProcess",
            "a command is required to run a function as a local process",
        ));
    };
    let argv = split(command);
    let Some(program) = argv.first() else {
        return Err(Error::invalid(field(d), "the command is empty"));
    };
    let Some(resolved) = resolve(program, search_path) else {
        return Err(Error::invalid(
            field(d),
            format!("command {program:?} is not an executable file and is not found in PATH"),
        ));
    };
    if private_tmp {
        let hidden = std::iter::once(resolved.as_path())
            .chain(argv[1..].iter().map(Path::new).filter(|a| a.is_absolute()))
            .find(|p| in_host_tmp(p));
        if let Some(p) = hidden {
            return Err(Error::invalid(
                field(d),
                format!(
                    "{} is under /tmp, which the function cannot see: each replica gets a \
                     private /tmp; put it in another directory",
                    p.display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_FUNCTION_PATH;

    #[test]
    fn programs_and_paths_under_tmp_are_refused_when_tmp_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        let prog = dir.path().join("fn.sh");
        std::fs::write(&prog, "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        let direct = FunctionDeployment::new("f", "i").with_env_process(prog.display().to_string());
        let err = check(&direct, DEFAULT_FUNCTION_PATH, true).unwrap_err();
        assert_eq!(err.field(), Some("envProcess"));
        assert!(err.to_string().contains("private /tmp"), "{err}");
        let arg =
            FunctionDeployment::new("f", "i").with_env_process(format!("sh {}", prog.display()));
        assert_eq!(
            check(&arg, DEFAULT_FUNCTION_PATH, true)
                .unwrap_err()
                .field(),
            Some("envProcess")
        );
        // Without a private /tmp (the fallback) the same commands are fine, and so is a
        // command that merely mentions /tmp as a relative word.
        check(&direct, DEFAULT_FUNCTION_PATH, false).unwrap();
        check(&arg, DEFAULT_FUNCTION_PATH, false).unwrap();
        let plain = FunctionDeployment::new("f", "i").with_env_process("ls tmp");
        check(&plain, DEFAULT_FUNCTION_PATH, true).unwrap();
    }

    #[test]
    fn commands_are_split_and_looked_up() {
        assert_eq!(split("  wc  -c "), ["wc", "-c"]);
        assert!(resolve("sh", DEFAULT_FUNCTION_PATH).is_some());
        assert!(resolve("/bin/sh", "").is_some());
        assert!(resolve("no-such-program-xyz", DEFAULT_FUNCTION_PATH).is_none());
        let d = FunctionDeployment::new("f", "img").with_env_process("no-such-program-xyz -x");
        let err = check(&d, DEFAULT_FUNCTION_PATH, true).unwrap_err();
        assert_eq!(err.field(), Some("envProcess"));
        let d = FunctionDeployment::new("f", "img").with_env("fprocess", "nope-nope");
        assert_eq!(
            check(&d, DEFAULT_FUNCTION_PATH, true).unwrap_err().field(),
            Some("envVars.fprocess")
        );
        let d = FunctionDeployment::new("f", "img").with_env_process("cat");
        assert!(check(&d, DEFAULT_FUNCTION_PATH, true).is_ok());
    }
}
