//! Builds the XDP program (the `dns-counter-ebpf` binary) for bpfel-unknown-none with the pinned
//! nightly and leaves it in OUT_DIR, where `loader.rs` embeds it. `cargo xtask build` installs
//! what this needs (that nightly with rust-src, bpf-linker).
//!
//! This is aya-build's `build_ebpf` with the nested cargo's output kept back: aya-build passes every
//! line on as a `cargo:warning`, and cargo shows a build script's warnings again on every later
//! build, even when nothing is rebuilt. Here the output is shown only when the build fails; the
//! eBPF crate's own warnings fail `cargo xtask test`'s clippy step instead.

#[path = "../dns-counter-ebpf/nightly.rs"]
mod nightly;

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

const EBPF_PACKAGE: &str = "dns-counter-ebpf";

fn main() -> ExitCode {
    match build_ebpf() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn build_ebpf() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .ok_or("dns-counter has no parent directory")?;
    // The program is the eBPF crate compiled with what it shares with the daemon; the build
    // dependency on the eBPF crate alone would miss changes to its binary.
    for dir in [EBPF_PACKAGE, "dns-counter-common"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let target = match env::var("CARGO_CFG_TARGET_ENDIAN").as_deref() {
        Ok("little") => "bpfel-unknown-none",
        Ok("big") => "bpfeb-unknown-none",
        other => return Err(format!("unsupported CARGO_CFG_TARGET_ENDIAN {other:?}")),
    };
    let toolchain = nightly::installed_toolchain()?;

    let target_dir = out_dir.join("ebpf-target");
    let mut cargo = Command::new("rustup");
    cargo
        .args(["run", toolchain, "cargo", "build", "--release"])
        .args(["-Z", "build-std=core", "--target", target])
        .args(["--package", EBPF_PACKAGE, "--bin", EBPF_PACKAGE])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(workspace)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags()?)
        // The nested cargo picks its own rustc from the toolchain, not the one building us.
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    let output = cargo
        .output()
        .map_err(|err| format!("could not run {cargo:?}: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the eBPF program failed ({}): {cargo:?}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }

    let built = target_dir.join(target).join("release").join(EBPF_PACKAGE);
    copy(&built, &out_dir.join(EBPF_PACKAGE))
}

/// aya-build's flags: the host architecture for aya-ebpf's `bpf_target_arch` cfg (its helpers
/// read `pt_regs` per architecture), debug info and BTF for the loader.
fn rustflags() -> Result<String, String> {
    let arch =
        env::var("CARGO_CFG_TARGET_ARCH").map_err(|err| format!("CARGO_CFG_TARGET_ARCH: {err}"))?;
    let arch = if arch.starts_with("riscv64") {
        "riscv64"
    } else {
        &arch
    };
    Ok([
        &format!("--cfg=bpf_target_arch=\"{arch}\""),
        "-Cdebuginfo=2",
        "-Clink-arg=--btf",
    ]
    .join("\x1f"))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::copy(from, to).map(drop).map_err(|err| {
        format!(
            "could not copy {} to {}: {err}",
            from.display(),
            to.display()
        )
    })
}
