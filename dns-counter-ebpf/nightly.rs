//! The one nightly toolchain that builds and lints the XDP program: `dns-counter/build.rs` and
//! xtask include this file (`#[path]`), and the README quotes it. Change the pin only here.
//!
//! Pinned, not the floating `nightly`: the program needs `-Z build-std=core` and the
//! `core::intrinsics::atomic_xadd` intrinsic, and bpf-linker is linked to this toolchain's libLLVM,
//! so a nightly that moves on can break the build with no change here.

use std::process::Command;

/// The dated toolchain, as `rustup toolchain install` names it.
pub const NIGHTLY: &str = "nightly-2026-05-20";

/// What `rustc -V` of [`NIGHTLY`] prints. The floating `nightly` serves in its place when it prints
/// exactly this (it is then the same build), so a machine that has it downloads nothing.
pub const NIGHTLY_RUSTC: &str = "rustc 1.97.0-nightly (e50aa6fba 2026-05-19)";

/// The components the eBPF build (`rust-src`, for `-Z build-std=core`) and its lint need.
pub const COMPONENTS: &[&str] = &["rust-src", "clippy"];

/// The arguments of the `rustup` command that installs [`NIGHTLY`] with [`COMPONENTS`].
pub fn install_args() -> Vec<String> {
    let args = ["toolchain", "install", NIGHTLY, "--profile", "minimal"];
    let components = ["--component".to_owned(), COMPONENTS.join(",")];
    args.map(str::to_owned)
        .into_iter()
        .chain(components)
        .collect()
}

/// The installed rustup toolchain that is [`NIGHTLY`]: `NIGHTLY` itself, else `nightly` when it is
/// the same build. `Err` is one line saying what is installed instead and what to install.
pub fn installed_toolchain() -> Result<&'static str, String> {
    let toolchains = rustup(&["toolchain", "list"])?;
    let mut found = Vec::new();
    for toolchain in [NIGHTLY, "nightly"] {
        if !toolchains
            .lines()
            .any(|line| names_toolchain(line, toolchain))
        {
            continue;
        }
        let rustc = rustup(&["run", toolchain, "rustc", "-V"])?;
        let rustc = rustc.trim();
        if rustc == NIGHTLY_RUSTC {
            return Ok(toolchain);
        }
        found.push(format!("`{toolchain}` is {rustc}"));
    }
    let found = if found.is_empty() {
        "neither it nor `nightly` is installed".to_owned()
    } else {
        found.join(", ")
    };
    Err(format!(
        "the eBPF program is built with {NIGHTLY} ({NIGHTLY_RUSTC}), and {found}; install it with `rustup {}`",
        install_args().join(" ")
    ))
}

/// Whether a line of `rustup toolchain list` ("nightly-x86_64-unknown-linux-gnu (default)") is
/// `toolchain` for some host; "nightly-2026-05-20-x86_64-..." is not the toolchain "nightly".
pub fn names_toolchain(line: &str, toolchain: &str) -> bool {
    line.strip_prefix(toolchain)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|host| !host.starts_with(|c: char| c.is_ascii_digit()))
}

fn rustup(args: &[&str]) -> Result<String, String> {
    let shown = format!("rustup {}", args.join(" "));
    let output = Command::new("rustup").args(args).output().map_err(|err| {
        format!(
            "could not run `{shown}` ({err}); the eBPF program needs rustup (https://rustup.rs)"
        )
    })?;
    if !output.status.success() {
        return Err(format!(
            "`{shown}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    String::from_utf8(output.stdout).map_err(|_| format!("`{shown}` printed invalid UTF-8"))
}
