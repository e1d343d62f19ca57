//! The QEMU command line, built in one place.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Name of the QEMU binary looked up on `PATH`.
pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// Returns the full path of `qemu-system-x86_64` if it is on `PATH`.
pub fn qemu_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(QEMU_BINARY))
        .find(|p| p.is_file())
}

/// Where the guest's serial console goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serial {
    /// `-serial stdio -monitor none`: for pipes (harness, scripted runs).
    Piped,
    /// `-serial mon:stdio`: for an interactive terminal (Ctrl-A X quits,
    /// Ctrl-A C toggles the QEMU monitor).
    Interactive,
}

/// A host port on 127.0.0.1 that is free now, with the next one free too
/// (for `cargo xtask run --http-port`, which forwards PORT and PORT+1), so
/// that parallel QEMUs do not fight over fixed ports. Another process may
/// still take it before QEMU binds it; callers report that as an error.
pub fn free_local_port_pair() -> std::io::Result<u16> {
    for _ in 0..64 {
        let first = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = first.local_addr()?.port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::other(
        "no two consecutive free ports on 127.0.0.1",
    ))
}

/// A host TCP port forwarded to a guest port through one network card's
/// user-mode network (see [`Machine::with_network_cards`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkForward {
    /// 0: the e1000's network; 1: the pcnet's.
    pub card: usize,
    /// The port on the host's 127.0.0.1.
    pub host_port: u16,
    /// The guest's port.
    pub guest_port: u16,
}

/// One QEMU machine: which binary, which kernel, which command line, extra args.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The emulator program (default `qemu-system-x86_64`); tests substitute a fake.
    pub qemu: PathBuf,
    /// The kernel ELF (with a PVH note) passed to `-kernel`.
    pub kernel: PathBuf,
    /// The kernel command line passed to `-append`.
    pub cmdline: String,
    /// Extra QEMU arguments appended after the base ones (e.g. `-device e1000`).
    pub extra_args: Vec<OsString>,
}

impl Machine {
    /// A machine booting `kernel` with an empty command line and no extra args.
    pub fn new(kernel: impl Into<PathBuf>) -> Machine {
        Machine {
            qemu: PathBuf::from(QEMU_BINARY),
            kernel: kernel.into(),
            cmdline: String::new(),
            extra_args: Vec::new(),
        }
    }

    /// Replaces the emulator program.
    pub fn qemu(mut self, qemu: impl AsRef<Path>) -> Machine {
        self.qemu = qemu.as_ref().to_path_buf();
        self
    }

    /// Sets the kernel command line.
    pub fn cmdline(mut self, cmdline: impl Into<String>) -> Machine {
        self.cmdline = cmdline.into();
        self
    }

    /// Appends extra QEMU arguments.
    pub fn args<I, S>(mut self, args: I) -> Machine
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Attaches the two network cards the kernel's drivers serve, each on its
    /// own QEMU user-mode network (DHCP server, gateway 10.0.2.2, guest
    /// 10.0.2.15): an Intel 82540EM (`e1000`, first) and an AMD PCnet-PCI II
    /// (`pcnet`). `forwards` are `(host port, guest port)` TCP forwards to
    /// the guest, on each card's network in turn (the first to `e1000`).
    pub fn with_network_cards(self, forwards: &[NetworkForward]) -> Machine {
        let mut args = Vec::new();
        for (index, model) in ["e1000", "pcnet"].into_iter().enumerate() {
            let mut netdev = format!("user,id=net{index}");
            for forward in forwards.iter().filter(|f| f.card == index) {
                netdev.push_str(&format!(
                    ",hostfwd=tcp:127.0.0.1:{}-:{}",
                    forward.host_port, forward.guest_port
                ));
            }
            args.extend([
                "-netdev".to_string(),
                netdev,
                "-device".to_string(),
                format!("{model},netdev=net{index}"),
            ]);
        }
        self.args(args)
    }

    /// The full argument list (without the program), in the fixed order: base
    /// machine, serial, kernel + cmdline, extra args.
    pub fn qemu_args(&self, serial: Serial) -> Vec<OsString> {
        let mut a: Vec<OsString> = [
            "-machine",
            "pc",
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-m",
            "128M",
            "-smp",
            "1",
            "-display",
            "none",
            "-no-reboot",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        match serial {
            Serial::Piped => a.extend(["-serial", "stdio", "-monitor", "none"].map(OsString::from)),
            Serial::Interactive => a.extend(["-serial", "mon:stdio"].map(OsString::from)),
        }
        a.push("-kernel".into());
        a.push(self.kernel.clone().into_os_string());
        a.push("-append".into());
        a.push(self.cmdline.clone().into());
        a.extend(self.extra_args.iter().cloned());
        a
    }

    /// A ready-to-spawn command (stdio not configured).
    pub fn command(&self, serial: Serial) -> Command {
        let mut c = Command::new(&self.qemu);
        c.args(self.qemu_args(serial));
        c
    }

    /// The command as a shell-like string, for messages and reproduction.
    pub fn display(&self, serial: Serial) -> String {
        let mut s = self.qemu.display().to_string();
        for a in self.qemu_args(serial) {
            let a = a.to_string_lossy();
            s.push(' ');
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"') {
                s.push('"');
                s.push_str(&a.replace('"', "\\\""));
                s.push('"');
            } else {
                s.push_str(&a);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_pair_can_be_bound() {
        let port = free_local_port_pair().unwrap();
        let _first = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let _second = std::net::TcpListener::bind(("127.0.0.1", port + 1)).unwrap();
    }

    #[test]
    fn network_cards_come_in_a_fixed_order_with_their_forwards() {
        let m = Machine::new("/k").with_network_cards(&[NetworkForward {
            card: 0,
            host_port: 8080,
            guest_port: 80,
        }]);
        let s = m.display(Serial::Piped);
        assert!(
            s.ends_with(
                "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80 -device e1000,netdev=net0 \
                 -netdev user,id=net1 -device pcnet,netdev=net1"
            ),
            "{s}"
        );
    }

    #[test]
    fn piped_command_line_follows_convention() {
        let m = Machine::new("/k/kernel")
            .cmdline("ktest ktest.skip=2")
            .args(["-device", "e1000"]);
        let s = m.display(Serial::Piped);
        assert!(s.starts_with("qemu-system-x86_64 -machine pc "), "{s}");
        assert!(s.contains("-device isa-debug-exit,iobase=0xf4,iosize=0x04"));
        assert!(s.contains("-serial stdio -monitor none"));
        assert!(s.contains("-kernel /k/kernel -append \"ktest ktest.skip=2\""));
        assert!(s.ends_with("-device e1000"));
        assert!(!s.contains("kvm"));
        let i = m.display(Serial::Interactive);
        assert!(i.contains("-serial mon:stdio"));
        assert!(!i.contains("-monitor none"));
    }
}
