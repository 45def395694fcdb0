//! Builds the XDP program for bpfel-unknown-none with nightly and leaves it in OUT_DIR, where
//! `loader.rs` embeds it. `cargo xtask build` installs what this needs (rust-src, bpf-linker).
fn main() -> aya_build::Result<()> {
    let root_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../dns-counter-ebpf");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "dns-counter-ebpf",
            root_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
