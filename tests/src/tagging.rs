//! VLAN tags without VLAN devices (kernels built without 802.1Q support have none): two tiny tc
//! programs attached with tcx. On the client's veth end, egress, one program per tagged address
//! pushes that address's tags onto every IP packet to it; on the resolver's veth end, ingress,
//! another pops up to [`MAX_TAGS`] tags so the stack delivers the packet. XDP runs before tc on
//! ingress, so the counter sees the frames tagged.
//!
//! `bpf_skb_vlan_push` keeps the outermost tag beside the frame, as a VLAN device does; the
//! device's VLAN transmit offloads must be off for the kernel to write it into the frame's bytes
//! (see [`crate::netdev::disable_features`]). The programs are a few dozen instructions, written
//! here as bytecode so the tests need no second eBPF build.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{Context, bail};

/// The most tags a tagged address may carry, and how many the resolver's program pops.
pub const MAX_TAGS: usize = 3;

/// One VLAN tag: its tag protocol identifier (TPID) and VLAN id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag {
    pub tpid: u16,
    pub id: u16,
}

impl VlanTag {
    /// An 802.1Q (customer) tag.
    pub const fn dot1q(id: u16) -> Self {
        Self { tpid: 0x8100, id }
    }

    /// An 802.1ad (service) tag, the outer tag of QinQ.
    pub const fn dot1ad(id: u16) -> Self {
        Self { tpid: 0x88a8, id }
    }
}

/// Loads the program that pushes `tags` (outermost first) onto IPv4 packets to `v4` and IPv6
/// packets to `v6`, and lets every other packet through untouched.
pub fn push_program(tags: &[VlanTag], v4: Ipv4Addr, v6: Ipv6Addr) -> anyhow::Result<OwnedFd> {
    if tags.is_empty() || tags.len() > MAX_TAGS {
        bail!("{} tags; a tagged address has 1 to {MAX_TAGS}", tags.len());
    }
    if let Some(tag) = tags.iter().find(|tag| tag.id > 4094) {
        bail!("VLAN id {} is out of range", tag.id);
    }
    let mut asm = Assembler::default();
    asm.emit(mov64_reg(R6, R1)); // LD_ABS wants the context in r6
    asm.emit(ld_abs(BPF_H, ETHERTYPE_OFFSET));
    asm.jump(JMP32 | BPF_JEQ, 0x0800, "ipv4");
    asm.jump(JMP32 | BPF_JNE, 0x86dd, "other");
    for (index, word) in v6.octets().chunks_exact(4).enumerate() {
        let word = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        asm.emit(ld_abs(BPF_W, IPV6_DESTINATION_OFFSET + 4 * index as i32));
        asm.jump(JMP32 | BPF_JNE, word as i32, "other");
    }
    asm.jump(BPF_JMP | BPF_JA, 0, "push");
    asm.label("ipv4");
    asm.emit(ld_abs(BPF_W, IPV4_DESTINATION_OFFSET));
    asm.jump(JMP32 | BPF_JNE, u32::from(v4) as i32, "other");
    asm.label("push");
    // Each push moves the tag pushed before it into the frame, so push the innermost first.
    for tag in tags.iter().rev() {
        asm.emit(mov64_reg(R1, R6));
        asm.emit(mov64_imm(R2, i32::from(tag.tpid.to_be())));
        asm.emit(mov64_imm(R3, i32::from(tag.id)));
        asm.emit(call(HELPER_SKB_VLAN_PUSH));
        asm.jump(BPF_JMP | BPF_JNE, 0, "failed");
    }
    asm.exit_with(TCX_PASS);
    // A query that cannot be tagged is dropped, so it goes unanswered rather than untagged.
    asm.label("failed");
    asm.exit_with(TCX_DROP);
    asm.label("other");
    asm.exit_with(TCX_NEXT);
    load(&asm.finish()?, "dnsc_vlan_push")
}

/// Loads the program that pops up to [`MAX_TAGS`] VLAN tags off every packet (popping an
/// untagged packet changes nothing).
pub fn pop_program() -> anyhow::Result<OwnedFd> {
    let mut asm = Assembler::default();
    asm.emit(mov64_reg(R6, R1));
    for _ in 0..MAX_TAGS {
        asm.emit(mov64_reg(R1, R6));
        asm.emit(call(HELPER_SKB_VLAN_POP));
    }
    asm.exit_with(TCX_NEXT);
    load(&asm.finish()?, "dnsc_vlan_pop")
}

/// Where a tcx program runs on its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

/// Attaches `program` to `iface` (in the calling thread's network namespace) with tcx, after any
/// programs already there. The program stays attached while the returned link is open, or until
/// the device goes away.
pub fn attach(program: &OwnedFd, iface: &str, direction: Direction) -> anyhow::Result<OwnedFd> {
    let name = CString::new(iface)?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("no interface {iface}"));
    }
    let attr = LinkCreateAttr {
        prog_fd: u32::try_from(program.as_raw_fd())?,
        target_ifindex: ifindex,
        attach_type: match direction {
            Direction::Ingress => BPF_TCX_INGRESS,
            Direction::Egress => BPF_TCX_EGRESS,
        },
        flags: 0,
        relative_fd: 0,
        padding: 0,
        expected_revision: 0,
    };
    bpf(BPF_LINK_CREATE, &attr)
        .with_context(|| format!("attaching a tcx {direction:?} program to {iface}"))
}

// Instruction encoding, from <linux/bpf_common.h> and <linux/bpf.h>.
const BPF_LD: u8 = 0x00;
const BPF_ABS: u8 = 0x20;
const BPF_W: u8 = 0x00;
const BPF_H: u8 = 0x08;
const BPF_JMP: u8 = 0x05;
const JMP32: u8 = 0x06;
const BPF_ALU64: u8 = 0x07;
const BPF_JA: u8 = 0x00;
const BPF_JEQ: u8 = 0x10;
const BPF_JNE: u8 = 0x50;
const BPF_CALL: u8 = 0x80;
const BPF_EXIT: u8 = 0x90;
const BPF_MOV: u8 = 0xb0;
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R6: u8 = 6;
const HELPER_SKB_VLAN_PUSH: i32 = 18;
const HELPER_SKB_VLAN_POP: i32 = 19;
/// tcx verdicts: go on to the next program (or pass, after the last), pass, drop.
const TCX_NEXT: i32 = -1;
const TCX_PASS: i32 = 0;
const TCX_DROP: i32 = 2;
/// tc programs see the frame from its Ethernet header, untagged on egress (the tags are pushed
/// by this program).
const ETHERTYPE_OFFSET: i32 = 12;
const IPV4_DESTINATION_OFFSET: i32 = 14 + 16;
const IPV6_DESTINATION_OFFSET: i32 = 14 + 24;

// bpf(2) commands and attributes.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
const BPF_TCX_INGRESS: u32 = 46;
const BPF_TCX_EGRESS: u32 = 47;
const VERIFIER_LOG_SIZE: usize = 64 * 1024;

/// `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Insn {
    code: u8,
    /// Destination register in the low nibble, source register in the high nibble.
    registers: u8,
    offset: i16,
    immediate: i32,
}

const fn insn(code: u8, dst: u8, src: u8, immediate: i32) -> Insn {
    Insn {
        code,
        registers: dst | (src << 4),
        offset: 0,
        immediate,
    }
}

const fn mov64_reg(dst: u8, src: u8) -> Insn {
    insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0)
}

const fn mov64_imm(dst: u8, immediate: i32) -> Insn {
    insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, immediate)
}

/// r0 = the packet's big-endian `size` word at `offset`, in host order; a load past the end
/// ends the program with r0 = 0 (TCX_PASS).
const fn ld_abs(size: u8, offset: i32) -> Insn {
    insn(BPF_LD | BPF_ABS | size, 0, 0, offset)
}

const fn call(helper: i32) -> Insn {
    insn(BPF_JMP | BPF_CALL, 0, 0, helper)
}

/// Collects instructions and resolves jumps to named labels.
#[derive(Default)]
struct Assembler {
    insns: Vec<Insn>,
    labels: BTreeMap<&'static str, usize>,
    jumps: Vec<(usize, &'static str)>,
}

impl Assembler {
    fn emit(&mut self, insn: Insn) {
        self.insns.push(insn);
    }

    /// `if r0 <op> immediate goto label` (`op` carries the class: JMP or JMP32).
    fn jump(&mut self, op: u8, immediate: i32, label: &'static str) {
        self.jumps.push((self.insns.len(), label));
        self.emit(insn(op | BPF_K, R0, 0, immediate));
    }

    fn label(&mut self, label: &'static str) {
        self.labels.insert(label, self.insns.len());
    }

    fn exit_with(&mut self, verdict: i32) {
        self.emit(mov64_imm(R0, verdict));
        self.emit(insn(BPF_JMP | BPF_EXIT, 0, 0, 0));
    }

    fn finish(mut self) -> anyhow::Result<Vec<Insn>> {
        for (at, label) in self.jumps {
            let target = *self.labels.get(label).context("jump to an unknown label")?;
            // Jumps count from the next instruction.
            self.insns[at].offset = i16::try_from(target as isize - at as isize - 1)?;
        }
        Ok(self.insns)
    }
}

/// The head of `union bpf_attr` for BPF_PROG_LOAD; the kernel zero-fills the rest.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

/// The head of `union bpf_attr` for BPF_LINK_CREATE with a tcx attach type.
#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    relative_fd: u32,
    padding: u32,
    expected_revision: u64,
}

fn load(insns: &[Insn], name: &str) -> anyhow::Result<OwnedFd> {
    let license = c"Dual MIT/GPL";
    let mut log = vec![0u8; VERIFIER_LOG_SIZE];
    let mut prog_name = [0u8; 16];
    for (slot, byte) in prog_name.iter_mut().take(15).zip(name.bytes()) {
        *slot = byte;
    }
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_SCHED_CLS,
        insn_cnt: u32::try_from(insns.len())?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: u32::try_from(log.len())?,
        log_buf: log.as_mut_ptr() as u64,
        kern_version: 0,
        prog_flags: 0,
        prog_name,
    };
    bpf(BPF_PROG_LOAD, &attr).with_context(|| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        format!(
            "loading {name}; verifier log:\n{}",
            String::from_utf8_lossy(&log[..end])
        )
    })
}

/// bpf(2) with a command whose result is a new file descriptor.
fn bpf<T>(command: libc::c_long, attr: &T) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a `union bpf_attr` head for `command`, valid for its size; the pointers
    // inside it (instructions, license, log) live until the call returns.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            std::ptr::from_ref(attr),
            size_of::<T>(),
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(result).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_count_from_the_next_instruction() {
        let mut asm = Assembler::default();
        asm.jump(JMP32 | BPF_JEQ, 1, "end");
        asm.emit(mov64_imm(R0, 0));
        asm.label("end");
        asm.exit_with(TCX_NEXT);
        let insns = asm.finish().expect("every label is defined");
        assert_eq!(insns[0].offset, 1);
        assert_eq!(insns[0].code, 0x16, "jeq32 with an immediate");
        assert_eq!(insns[0].registers, 0);
    }

    #[test]
    fn registers_pack_destination_low() {
        assert_eq!(mov64_reg(R6, R1).registers, 0x16);
        assert_eq!(mov64_reg(R6, R1).code, 0xbf);
    }

    #[test]
    fn a_jump_to_a_missing_label_is_an_error() {
        let mut asm = Assembler::default();
        asm.jump(BPF_JMP | BPF_JA, 0, "nowhere");
        assert!(asm.finish().is_err());
    }
}
