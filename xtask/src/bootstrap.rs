//! Installs what building and testing dns-counter needs on a fresh Debian 12 machine. Each step
//! checks first and only says "ok" when there is nothing to do, so a second run is quick.

use std::{
    fs, io,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::command::{cargo, home_dir, is_root, non_empty_var, read, run};

/// Pinned: the version verified to build against nightly's own libLLVM (22) on Debian 12; a new
/// bpf-linker may need a newer LLVM than nightly ships.
const BPF_LINKER_VERSION: &str = "0.13.0";

/// The peers the lab tests and the demo run: `ip netns`, a resolver and a load generator.
pub const LAB_PACKAGES: &[&str] = &["iproute2", "unbound", "dnsperf"];
/// The lab's, and the peers the bench compares dns-counter with.
pub const BENCH_PACKAGES: &[&str] = &["iproute2", "unbound", "dnsperf", "tcpdump", "dnstop"];

/// Nightly with rust-src: aya-build builds the XDP program with `-Z build-std=core`.
pub fn nightly_with_rust_src() -> Result<()> {
    let toolchains = read(rustup().args(["toolchain", "list"]))
        .context("dns-counter needs rustup (https://rustup.rs) to manage its nightly toolchain")?;
    if !toolchains.lines().any(is_nightly) {
        println!("xtask: installing the nightly toolchain with rust-src (for the eBPF program)");
        return run(rustup().args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]));
    }
    let components =
        read(rustup().args(["component", "list", "--toolchain", "nightly", "--installed"]))?;
    if components
        .lines()
        .any(|component| component.trim() == "rust-src")
    {
        println!("xtask: nightly with rust-src ok");
        return Ok(());
    }
    println!("xtask: adding rust-src to the nightly toolchain (for the eBPF program)");
    run(rustup().args(["component", "add", "rust-src", "--toolchain", "nightly"]))
}

/// bpf-linker links the XDP program; aya-build finds it on PATH.
pub fn bpf_linker() -> Result<()> {
    match bpf_linker_version() {
        Ok(version) if version == BPF_LINKER_VERSION => {
            println!("xtask: bpf-linker {BPF_LINKER_VERSION} ok");
            return Ok(());
        }
        Ok(version) => println!("xtask: found bpf-linker {version}, need {BPF_LINKER_VERSION}"),
        Err(err) => println!("xtask: no working bpf-linker ({err:#})"),
    }
    install_bpf_linker()?;
    match bpf_linker_version() {
        Ok(version) if version == BPF_LINKER_VERSION => Ok(()),
        Ok(version) => bail!(
            "installed bpf-linker {BPF_LINKER_VERSION}, but `bpf-linker --version` reports {version}; \
             remove the other bpf-linker that comes first on PATH"
        ),
        Err(err) => Err(err.context("the bpf-linker just installed does not start")),
    }
}

/// `cargo install bpf-linker` alone wants a system libLLVM as new as rustc's, and Debian 12 has
/// only LLVM 14/15. So it is linked against the libLLVM that nightly ships, through symlinks in a
/// directory we keep: cargo finds `libLLVM.so` there at link time, and the installed binary finds
/// the versioned name there at run time (its RUNPATH). When nightly is updated that name changes,
/// `bpf-linker --version` stops starting, and the next run reinstalls.
fn install_bpf_linker() -> Result<()> {
    let sysroot = read(rustc_nightly().args(["--print", "sysroot"]))?;
    let libllvm = nightly_libllvm(&Path::new(sysroot.trim()).join("lib"))?;
    let llvm_major = llvm_major(&read(rustc_nightly().arg("-vV"))?)?;
    let prefix = llvm_prefix()?;
    println!(
        "xtask: installing bpf-linker {BPF_LINKER_VERSION} linked to nightly's libLLVM {llvm_major} \
         ({}, about 2 minutes)",
        libllvm.display()
    );

    let lib_dir = prefix.join("lib");
    fs::create_dir_all(&lib_dir)
        .with_context(|| format!("could not create {}", lib_dir.display()))?;
    let versioned_name = libllvm
        .file_name()
        .context("libLLVM path has no file name")?;
    for link in [lib_dir.join("libLLVM.so"), lib_dir.join(versioned_name)] {
        replace_symlink(&libllvm, &link)?;
    }

    run(cargo().env("LLVM_PREFIX", &prefix).args([
        "install",
        "bpf-linker",
        "--version",
        BPF_LINKER_VERSION,
        "--no-default-features",
        "--features",
        &format!("llvm-{llvm_major}"),
        "--force",
    ]))
}

/// Installs the Debian `packages` that are missing (needs root, as the lab itself does); `purpose`
/// says what they are for.
pub fn debian_packages(packages: &[&str], purpose: &str) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| !dpkg_installed(package))
        .collect();
    if missing.is_empty() {
        println!("xtask: Debian packages {} ok", packages.join(", "));
        return Ok(());
    }
    let missing_list = missing.join(" ");
    if !is_root()? {
        bail!(
            "Debian packages {missing_list} are missing and installing them needs root: run xtask as root, \
             or first `sudo apt-get update && sudo apt-get install -y --no-install-recommends {missing_list}`"
        );
    }
    println!("xtask: installing Debian packages {missing_list} (for {purpose})");
    run(apt_get().arg("update"))?;
    run(apt_get()
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing))
}

fn rustup() -> Command {
    Command::new("rustup")
}

fn rustc_nightly() -> Command {
    let mut cmd = Command::new("rustc");
    cmd.arg("+nightly");
    cmd
}

fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

/// A line of `rustup toolchain list` naming the toolchain `+nightly` selects: "nightly-<host>",
/// maybe followed by "(default)"; a dated "nightly-2025-01-01-<host>" is a different toolchain.
fn is_nightly(line: &str) -> bool {
    line.strip_prefix("nightly-")
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// The LLVM major from `rustc -vV` ("LLVM version: 22.1.4" → "22"), which picks bpf-linker's
/// `llvm-NN` feature.
fn llvm_major(rustc_version: &str) -> Result<String> {
    rustc_version
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version:"))
        .and_then(|version| version.trim().split('.').next())
        .filter(|major| !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .with_context(|| {
            format!("no \"LLVM version: N.N.N\" line in `rustc +nightly -vV`:\n{rustc_version}")
        })
}

/// The one `libLLVM.so.<version>` in nightly's `lib` directory.
fn nightly_libllvm(sysroot_lib: &Path) -> Result<PathBuf> {
    let entries = fs::read_dir(sysroot_lib)
        .with_context(|| format!("could not list {}", sysroot_lib.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("could not list {}", sysroot_lib.display()))?
            .path();
        if path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("libLLVM.so."))
        {
            found.push(path);
        }
    }
    match <[PathBuf; 1]>::try_from(found) {
        Ok([libllvm]) => Ok(libllvm),
        Err(found) => bail!(
            "expected one libLLVM.so.* in {}, found {found:?}; try `rustup toolchain install nightly --force`",
            sysroot_lib.display()
        ),
    }
}

/// `${XDG_DATA_HOME:-$HOME/.local/share}/dns-counter/llvm`: kept, because the installed
/// bpf-linker loads libLLVM from here every time it runs.
fn llvm_prefix() -> Result<PathBuf> {
    let data_home = match non_empty_var("XDG_DATA_HOME") {
        Some(dir) => dir,
        None => home_dir()?.join(".local/share"),
    };
    Ok(data_home.join("dns-counter/llvm"))
}

/// `ln -sf target link`.
fn replace_symlink(target: &Path, link: &Path) -> Result<()> {
    match fs::remove_file(link) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => {
            return Err(err).with_context(|| format!("could not replace {}", link.display()));
        }
    }
    symlink(target, link)
        .with_context(|| format!("could not link {} to {}", link.display(), target.display()))
}

/// dpkg-query fails for a package it has never heard of; that counts as missing too.
fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|output| output.status.success() && output.stdout == b"install ok installed")
}

fn bpf_linker_version() -> Result<String> {
    let output = read(Command::new("bpf-linker").arg("--version"))?;
    // "bpf-linker 0.13.0"
    output
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .with_context(|| format!("unexpected `bpf-linker --version` output {output:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nightly_line_is_the_undated_toolchain() {
        assert!(is_nightly("nightly-x86_64-unknown-linux-gnu"));
        assert!(is_nightly(
            "nightly-x86_64-unknown-linux-gnu (active, default)"
        ));
        assert!(!is_nightly("nightly-2025-01-01-x86_64-unknown-linux-gnu"));
        assert!(!is_nightly(
            "stable-x86_64-unknown-linux-gnu (active, default)"
        ));
    }

    #[test]
    fn llvm_major_from_rustc_vv() {
        let vv = "rustc 1.97.0-nightly (e50aa6fba 2026-05-19)\nhost: x86_64-unknown-linux-gnu\nLLVM version: 22.1.4\n";
        assert_eq!(llvm_major(vv).ok().as_deref(), Some("22"));
        assert!(llvm_major("rustc 1.97.0-nightly\n").is_err());
    }
}
