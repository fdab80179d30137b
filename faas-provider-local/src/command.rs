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

/// Checks that the deployment has a command whose program exists and is executable, looked up
/// in `search_path` (the function's `PATH`). `InvalidInput` naming the field otherwise.
pub(crate) fn check(d: &FunctionDeployment, search_path: &str) -> Result<(), Error> {
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
    if resolve(program, search_path).is_none() {
        return Err(Error::invalid(
            field(d),
            format!("command {program:?} is not an executable file and is not found in PATH"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_FUNCTION_PATH;

    #[test]
    fn commands_are_split_and_looked_up() {
        assert_eq!(split("  wc  -c "), ["wc", "-c"]);
        assert!(resolve("sh", DEFAULT_FUNCTION_PATH).is_some());
        assert!(resolve("/bin/sh", "").is_some());
        assert!(resolve("no-such-program-xyz", DEFAULT_FUNCTION_PATH).is_none());
        let d = FunctionDeployment::new("f", "img").with_env_process("no-such-program-xyz -x");
        let err = check(&d, DEFAULT_FUNCTION_PATH).unwrap_err();
        assert_eq!(err.field(), Some("envProcess"));
        let d = FunctionDeployment::new("f", "img").with_env("fprocess", "nope-nope");
        assert_eq!(
            check(&d, DEFAULT_FUNCTION_PATH).unwrap_err().field(),
            Some("envVars.fprocess")
        );
        let d = FunctionDeployment::new("f", "img").with_env_process("cat");
        assert!(check(&d, DEFAULT_FUNCTION_PATH).is_ok());
    }
}
