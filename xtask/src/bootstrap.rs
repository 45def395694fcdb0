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

#[path = "../../dns-counter-ebpf/nightly.rs"]
mod nightly;

/// Pinned: the version verified to build against nightly's own libLLVM (22) on Debian 12; a new
/// bpf-linker may need a newer LLVM than nightly ships.
const BPF_LINKER_VERSION: &str = "0.13.0";

/// The peers the lab tests and the demo run: `ip netns`, a resolver and a load generator; and
/// systemd's `systemd-analyze`, which checks dist/dns-counter.service.
pub const LAB_PACKAGES: &[&str] = &["iproute2", "unbound", "dnsperf", "faketime", "systemd"];
/// The lab's, and the peers the bench compares dns-counter with.
pub const BENCH_PACKAGES: &[&str] = &[
    "iproute2", "unbound", "dnsperf", "faketime", "tcpdump", "dnstop",
];

/// The nightly pinned in dns-counter-ebpf/nightly.rs, with rust-src (dns-counter/build.rs builds
/// the XDP program with `-Z build-std=core`) and clippy (`cargo xtask test` lints the program);
/// returns the rustup toolchain that is that nightly, for `+toolchain`.
///
/// Only rustup can download a toolchain, and some machines reach no rustup server. So the pinned
/// `nightly-<date>` is used when installed, and else the floating `nightly` when its `rustc -V` is
/// the pinned build's; otherwise the dated one is installed, and when that fails the error says
/// what to install.
pub fn pinned_nightly() -> Result<&'static str> {
    let toolchain = match nightly::installed_toolchain() {
        Ok(toolchain) => toolchain,
        Err(missing) => {
            println!(
                "xtask: installing {} with {} (for the eBPF program)",
                nightly::NIGHTLY,
                nightly::COMPONENTS.join(", ")
            );
            run(rustup().args(nightly::install_args())).context(missing)?;
            nightly::installed_toolchain().map_err(anyhow::Error::msg)?
        }
    };
    let installed =
        read(rustup().args(["component", "list", "--installed", "--toolchain", toolchain]))?;
    let missing: Vec<&str> = nightly::COMPONENTS
        .iter()
        .copied()
        .filter(|component| !installed.lines().any(|line| is_component(line, component)))
        .collect();
    if missing.is_empty() {
        println!(
            "xtask: {} ({toolchain}) with {} ok",
            nightly::NIGHTLY,
            nightly::COMPONENTS.join(", ")
        );
        return Ok(toolchain);
    }
    println!(
        "xtask: adding {} to {toolchain} (for the eBPF program)",
        missing.join(", ")
    );
    run(rustup()
        .args(["component", "add", "--toolchain", toolchain])
        .args(&missing))?;
    Ok(toolchain)
}

/// bpf-linker links the XDP program, linked itself to the libLLVM of `toolchain` (the pinned
/// nightly); the nested cargo of dns-counter/build.rs finds it on PATH.
pub fn bpf_linker(toolchain: &str) -> Result<()> {
    match bpf_linker_version() {
        Ok(version) if version == BPF_LINKER_VERSION => {
            println!("xtask: bpf-linker {BPF_LINKER_VERSION} ok");
            return Ok(());
        }
        Ok(version) => println!("xtask: found bpf-linker {version}, need {BPF_LINKER_VERSION}"),
        Err(err) => println!("xtask: no working bpf-linker ({err:#})"),
    }
    install_bpf_linker(toolchain)?;
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
/// only LLVM 14/15. So it is linked against the libLLVM that the pinned nightly ships, through
/// symlinks in a directory we keep: cargo finds `libLLVM.so` there at link time, and the installed
/// binary finds the versioned name there at run time (its RUNPATH). When the nightly it was linked
/// to is updated or removed that name goes, `bpf-linker --version` stops starting, and the next
/// run reinstalls.
fn install_bpf_linker(toolchain: &str) -> Result<()> {
    let sysroot = read(rustc(toolchain).args(["--print", "sysroot"]))?;
    let libllvm = nightly_libllvm(&Path::new(sysroot.trim()).join("lib"))?;
    let llvm_major = llvm_major(&read(rustc(toolchain).arg("-vV"))?)?;
    let prefix = llvm_prefix()?;
    println!(
        "xtask: installing bpf-linker {BPF_LINKER_VERSION} linked to {toolchain}'s libLLVM {llvm_major} \
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

/// `rustc +toolchain`.
fn rustc(toolchain: &str) -> Command {
    let mut cmd = Command::new("rustc");
    cmd.arg(format!("+{toolchain}"));
    cmd
}

fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

/// Whether a line of `rustup component list --installed` is `component`: "rust-src", or
/// "clippy-x86_64-unknown-linux-gnu" for a component built per host.
fn is_component(line: &str, component: &str) -> bool {
    line.trim()
        .strip_prefix(component)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
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
            format!("no \"LLVM version: N.N.N\" line in `rustc -vV`:\n{rustc_version}")
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
            "expected one libLLVM.so.* in {}, found {found:?}; try `rustup toolchain install {} --force`",
            sysroot_lib.display(),
            nightly::NIGHTLY
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
    fn toolchain_lines_name_dated_and_floating_nightlies_apart() {
        let floating = "nightly-x86_64-unknown-linux-gnu (active, default)";
        let dated = "nightly-2026-05-20-x86_64-unknown-linux-gnu";
        assert!(nightly::names_toolchain(floating, "nightly"));
        assert!(!nightly::names_toolchain(dated, "nightly"));
        assert!(nightly::names_toolchain(dated, "nightly-2026-05-20"));
        assert!(!nightly::names_toolchain(dated, "nightly-2026-05-21"));
        assert!(!nightly::names_toolchain(
            "stable-x86_64-unknown-linux-gnu",
            "nightly"
        ));
    }

    #[test]
    fn installed_components_by_name() {
        assert!(is_component("rust-src", "rust-src"));
        assert!(is_component("clippy-x86_64-unknown-linux-gnu", "clippy"));
        assert!(!is_component(
            "rust-std-x86_64-unknown-linux-gnu",
            "rust-src"
        ));
    }

    /// The README quotes the pin for people who build without xtask.
    #[test]
    fn readme_quotes_the_pinned_nightly() {
        let readme = fs::read_to_string(crate::command::workspace_root().join("README.md"))
            .expect("README.md");
        for pin in [nightly::NIGHTLY, nightly::NIGHTLY_RUSTC] {
            assert!(readme.contains(pin), "README.md does not quote {pin}");
        }
    }

    #[test]
    fn llvm_major_from_rustc_vv() {
        let vv = "rustc 1.97.0-nightly (e50aa6fba 2026-05-19)\nhost: x86_64-unknown-linux-gnu\nLLVM version: 22.1.4\n";
        assert_eq!(llvm_major(vv).ok().as_deref(), Some("22"));
        assert!(llvm_major("rustc 1.97.0-nightly\n").is_err());
    }
}
