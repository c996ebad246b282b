//! Records the git revision the binary is built from (`kraftwerk version`, the start-up log).
//! KRAFTWERK_GIT_REVISION wins (image builds without a .git directory); else `git rev-parse`;
//! else "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=KRAFTWERK_GIT_REVISION");
    let revision = std::env::var("KRAFTWERK_GIT_REVISION")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    // Rebuilt when HEAD moves: HEAD itself (branch switches) and the branch's ref.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
    }
    if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
        && let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
    {
        let common = std::path::Path::new(&common);
        println!("cargo:rerun-if-changed={}", common.join(&branch).display());
        println!("cargo:rerun-if-changed={}", common.join("packed-refs").display());
    }
    println!(
        "cargo:rustc-env=KRAFTWERK_GIT_REVISION={}",
        revision.unwrap_or_else(|| "unknown".into())
    );
}
