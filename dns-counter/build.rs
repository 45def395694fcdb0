//! Builds the XDP program for bpfel-unknown-none with the nightly pinned in
//! dns-counter-ebpf/nightly.rs and leaves it in OUT_DIR, where `loader.rs` embeds it.
//! `cargo xtask build` installs what this needs (that nightly with rust-src, bpf-linker).

#[path = "../dns-counter-ebpf/nightly.rs"]
mod nightly;

fn main() -> aya_build::Result<()> {
    let toolchain = nightly::installed_toolchain().map_err(anyhow::Error::msg)?;
    let root_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../dns-counter-ebpf");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "dns-counter-ebpf",
            root_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::Custom(toolchain),
    )
}
