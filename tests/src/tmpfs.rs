//! A small tmpfs mounted for one test (a full disk, a read-only directory), unmounted on drop,
//! also when the test fails.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::process::run_checked;

/// How long mount and umount may take.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(10);

/// A tmpfs mounted at a directory of the test's own; unmounted (lazily, so an open file cannot
/// keep it) on drop.
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_bytes` at `path` (created if missing), with extra mount `options`
    /// such as `ro`.
    pub fn mount(path: &Path, size_bytes: u64, options: &[&str]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
        let mut all = vec![format!("size={size_bytes}"), "mode=0755".to_owned()];
        all.extend(options.iter().map(|option| (*option).to_owned()));
        let path_text = path.to_str().context("a mount point that is UTF-8")?;
        run_checked(
            "mount",
            &["-t", "tmpfs", "-o", &all.join(","), "tmpfs", path_text],
            MOUNT_TIMEOUT,
        )?;
        Ok(Self {
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes a file may still take, as `statvfs` counts them.
    pub fn free_bytes(&self) -> anyhow::Result<u64> {
        let path = CString::new(self.path.as_os_str().as_bytes())?;
        // SAFETY: a valid C string and a zeroed struct for the kernel to fill.
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
            bail!(
                "statvfs {}: {}",
                self.path.display(),
                std::io::Error::last_os_error()
            );
        }
        Ok(stats.f_bavail * stats.f_frsize)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Some(path) = self.path.to_str()
            && let Err(err) = run_checked("umount", &["--lazy", path], MOUNT_TIMEOUT)
        {
            eprintln!("cannot unmount {}: {err:#}", self.path.display());
        }
    }
}
