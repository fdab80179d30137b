//! Records the git commit the gateway was built from, for `/system/info`.

fn main() {
    let sha = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=FAAS_GATEWAY_GIT_SHA={sha}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
}
