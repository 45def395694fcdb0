//! A child on a pseudo-terminal whose screen is kept by a terminal emulator, for curses tools
//! such as dnstop that only run live with a terminal on stdout.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::process::ChildGuard;

/// A running child whose stdin, stdout and stderr are a pty's slave end. The child is stopped
/// (SIGTERM, then SIGKILL) on drop; closing the master then hangs up anything left.
pub struct PtyChild {
    // Declared first: dropped (the child stopped) before the master closes.
    process: ChildGuard,
    master: File,
    screen: Arc<Mutex<vt100::Parser>>,
    reader: Option<JoinHandle<()>>,
}

impl PtyChild {
    /// Spawns `command` on a new `rows`×`cols` pty as the leader of a new session with the pty
    /// as its controlling terminal, with `TERM=xterm`.
    pub fn spawn(mut command: Command, name: &str, rows: u16, cols: u16) -> anyhow::Result<Self> {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let (mut master_fd, mut slave_fd) = (-1, -1);
        // SAFETY: openpty writes two descriptors into the out parameters; the name, termios and
        // winsize pointers are null or point to live values.
        let result = unsafe {
            libc::openpty(
                &mut master_fd,
                &mut slave_fd,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        if result != 0 {
            return Err(std::io::Error::last_os_error()).context("openpty");
        }
        // SAFETY: openpty succeeded, so both are fresh descriptors owned by nobody else.
        let (master, slave) =
            unsafe { (File::from_raw_fd(master_fd), OwnedFd::from_raw_fd(slave_fd)) };
        command
            .env("TERM", "xterm")
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("spawning {name} on a pty"))?;
        // The parent's copies of the slave end are gone with `command`'s Stdio at spawn, so a
        // read on the master ends (EIO) once the child and its descendants have exited.
        drop(command);
        let process = ChildGuard::new(child, name);

        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let mut output = master.try_clone().context("duplicating the pty master")?;
        let emulated = Arc::clone(&screen);
        let reader = thread::spawn(move || {
            let mut buffer = [0u8; 16 * 1024];
            // EIO after the last slave descriptor closes ends the loop, as does EOF.
            while let Ok(read @ 1..) = output.read(&mut buffer) {
                emulated
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .process(&buffer[..read]);
            }
        });
        Ok(Self {
            process,
            master,
            screen,
            reader: Some(reader),
        })
    }

    pub fn id(&self) -> u32 {
        self.process.id()
    }

    /// The screen as text, one line per row, trailing blanks trimmed.
    pub fn screen_text(&self) -> String {
        self.screen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .screen()
            .contents()
    }

    /// Types `keys` at the terminal.
    pub fn type_keys(&mut self, keys: &[u8]) -> anyhow::Result<()> {
        self.master.write_all(keys).context("writing to the pty")?;
        self.master.flush().context("writing to the pty")
    }

    /// Polls the screen until `parse` finds what it looks for, or fails after `timeout` with the
    /// screen as it was.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut parse: impl FnMut(&str) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.screen_text();
            if let Some(found) = parse(&text) {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                bail!("the screen did not show what was expected within {timeout:?}:\n{text}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to `timeout` for the child to exit by itself (after a quit key), then stops it
    /// as the guard does. Returns whether it exited by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.process.has_exited() {
                self.join_reader();
                return Ok(true);
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.process.terminate(Duration::from_secs(3))?;
        self.join_reader();
        Ok(false)
    }

    fn join_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            // Any descendant still holding the slave would keep the reader blocked: only join
            // once the read has ended.
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }
}
