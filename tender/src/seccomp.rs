//! The seccomp allowlists of both engines, kept as data: every entry names the system
//! call, the argument constraints, and why the tender needs it once the guest runs.
//!
//! The `kvm` engine compiles its list with `seccompiler`. The `process` engine compiles its
//! list to classic BPF by hand ([`process_bpf`]), because it must also kill every system
//! call whose instruction pointer lies in guest memory, which needs
//! `seccomp_data.instruction_pointer`.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};
use std::collections::BTreeMap;

/// A constraint on one argument (its low 32 bits, or the whole word for masks).
#[derive(Debug, Clone)]
pub enum Cond {
    /// `arg` is one of the values (compared as 32-bit values: fds, ioctl requests).
    In(u8, Vec<u32>),
    /// `arg & mask == 0` (64-bit).
    MaskZero(u8, u64),
}

#[derive(Debug, Clone)]
pub struct Allow {
    pub nr: i64,
    pub name: &'static str,
    pub reason: &'static str,
    /// All must hold; empty = allowed with any arguments.
    pub conds: Vec<Cond>,
}

/// File descriptors the running guest's hypercalls use.
#[derive(Debug, Clone, Default)]
pub struct Fds {
    pub vcpu: Option<i32>,
    pub net: Vec<i32>,
    pub block: Vec<i32>,
}

const KVM_RUN: u32 = 0xae80;
const KVM_GET_REGS: u32 = 0x8090_ae81;

fn u32s(v: &[i32]) -> Vec<u32> {
    v.iter().map(|&x| x as u32).collect()
}

/// The allowlist for an engine (`vcpu` set = kvm engine).
pub fn allowlist(fds: &Fds) -> Vec<Allow> {
    let mut v = Vec::new();
    let mut add = |nr: i64, name, reason, conds| v.push(Allow { nr, name, reason, conds });
    if let Some(vcpu) = fds.vcpu {
        add(
            libc::SYS_ioctl,
            "ioctl",
            "KVM_RUN on the vCPU fd, and KVM_GET_REGS for the rip in fatal-exit messages",
            vec![Cond::In(0, vec![vcpu as u32]), Cond::In(1, vec![KVM_RUN, KVM_GET_REGS])],
        );
    }
    let mut wfds = vec![1u32, 2];
    wfds.extend(u32s(&fds.net));
    add(
        libc::SYS_write,
        "write",
        "PUTS to stdout, tender diagnostics to stderr, NET_WRITE to taps",
        vec![Cond::In(0, wfds)],
    );
    if !fds.net.is_empty() {
        add(libc::SYS_read, "read", "NET_READ from taps", vec![Cond::In(0, u32s(&fds.net))]);
    }
    if !fds.block.is_empty() {
        add(libc::SYS_pread64, "pread64", "BLOCK_READ", vec![Cond::In(0, u32s(&fds.block))]);
        add(libc::SYS_pwrite64, "pwrite64", "BLOCK_WRITE", vec![Cond::In(0, u32s(&fds.block))]);
    }
    add(libc::SYS_ppoll, "ppoll", "POLL: wait for tap input or the timeout", vec![]);
    add(
        libc::SYS_clock_gettime,
        "clock_gettime",
        "WALLTIME (issued directly, never through the vDSO, so the filter does not depend on the clocksource)",
        vec![],
    );
    add(libc::SYS_exit_group, "exit_group", "end the tender with the guest's status", vec![]);
    // No brk/mmap/munmap: `prepare_heap` leaves the C heap enough room for everything
    // allocated once the guest runs (error messages, POLL's fd list), so the tender cannot
    // map or grow memory after set-up.
    if fds.vcpu.is_none() {
        add(
            libc::SYS_rt_sigreturn,
            "rt_sigreturn",
            "return from the trap handler to the guest (every hypercall)",
            vec![],
        );
    }
    v
}

/// Free heap that [`prepare_heap`] reserves for the run loop (error messages and POLL's fd
/// list need a few KiB).
pub const HEAP_HEADROOM: usize = 1 << 20;

/// Called just before the filter goes in: makes sure the C allocator needs no system call
/// afterwards. Allocations up to 32 MiB come from the heap instead of `mmap`, freed memory
/// is never given back (`brk`/`munmap`), and `HEAP_HEADROOM` bytes of heap are reserved
/// (allocated and freed once; the pages are not touched, so they cost no RSS).
pub fn prepare_heap() {
    // SAFETY: mallopt only changes allocator parameters; the thresholds are in range
    // (the mmap threshold's maximum on 64-bit glibc is 32 MiB).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
    // SAFETY: malloc/free of a block nothing else sees; a null result is fine to free.
    unsafe { libc::free(libc::malloc(HEAP_HEADROOM)) };
}

/// Number of system calls the kvm engine allows (with a net and a block device attached).
pub fn kvm_syscall_count() -> usize {
    allowlist(&Fds { vcpu: Some(3), net: vec![4], block: vec![5] }).len()
}

/// Number of system calls the process engine allows (with a net and a block device).
pub fn process_syscall_count() -> usize {
    allowlist(&Fds { vcpu: None, net: vec![4], block: vec![5] }).len()
}

/// Builds and installs the kvm engine's filter (kills the process on any other call).
pub fn install_kvm(fds: &Fds) -> Result<(), String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for a in allowlist(fds) {
        // Expand the conjunction of "arg in set" conditions into one rule per combination.
        let mut combos: Vec<Vec<SeccompCondition>> = vec![vec![]];
        for c in &a.conds {
            let opts: Vec<SeccompCondition> = match c {
                Cond::In(arg, vals) => vals
                    .iter()
                    .map(|&v| SeccompCondition::new(*arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, u64::from(v)))
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?,
                Cond::MaskZero(arg, mask) => {
                    vec![
                        SeccompCondition::new(*arg, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(*mask), 0)
                            .map_err(|e| e.to_string())?,
                    ]
                }
            };
            combos = combos
                .iter()
                .flat_map(|prefix| {
                    opts.iter().map(move |o| {
                        let mut p = prefix.clone();
                        p.push(o.clone());
                        p
                    })
                })
                .collect();
        }
        let r = if a.conds.is_empty() {
            vec![]
        } else {
            combos.into_iter().map(SeccompRule::new).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?
        };
        rules.insert(a.nr, r);
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        std::env::consts::ARCH.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let prog: BpfProgram = filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?;
    seccompiler::apply_filter(&prog).map_err(|e| e.to_string())
}

// Classic BPF, for the process engine.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;
const RET_KILL: u32 = 0x8000_0000; // SECCOMP_RET_KILL_PROCESS
const RET_ALLOW: u32 = 0x7fff_0000;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_IP_LO: u32 = 8;
const OFF_IP_HI: u32 = 12;
const OFF_ARGS: u32 = 16;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt: 0, jf: 0, k }
}
fn jump(code: u16, k: u32, jt: usize, jf: usize) -> libc::sock_filter {
    libc::sock_filter { code, jt: u8::try_from(jt).expect("short jump"), jf: u8::try_from(jf).expect("short jump"), k }
}

/// The process engine's filter: wrong architecture → kill; instruction pointer inside
/// guest memory `[guest_lo, guest_hi)` (all below 4 GiB) → kill; otherwise the allowlist.
pub fn process_bpf(fds: &Fds, guest_lo: u64, guest_hi: u64) -> Vec<libc::sock_filter> {
    assert!(guest_hi <= 1 << 32 && guest_lo < guest_hi);
    let mut p = vec![
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jump(BPF_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(BPF_RET_K, RET_KILL),
        stmt(BPF_LD_W_ABS, OFF_IP_HI),
        jump(BPF_JEQ_K, 0, 0, 4), // high half non-zero: not guest memory
        stmt(BPF_LD_W_ABS, OFF_IP_LO),
    ];
    if guest_hi == 1 << 32 {
        p.push(jump(BPF_JGE_K, 0, 0, 0)); // always true: continue to the lower-bound test
    } else {
        p.push(jump(BPF_JGE_K, guest_hi as u32, 2, 0)); // at or above the end: not guest
    }
    p.push(jump(BPF_JGE_K, guest_lo as u32, 0, 1)); // at or above the start: guest → kill
    p.push(stmt(BPF_RET_K, RET_KILL));
    for a in allowlist(fds) {
        // Block: ld nr; jeq nr ? next : skip-block; <conds>; ret allow
        let mut body = Vec::new();
        for c in &a.conds {
            match c {
                Cond::In(arg, vals) => {
                    body.push(stmt(BPF_LD_W_ABS, OFF_ARGS + 8 * u32::from(*arg)));
                    for (i, v) in vals.iter().enumerate() {
                        // Match: skip the remaining compares and the kill.
                        body.push(jump(BPF_JEQ_K, *v, vals.len() - i, 0));
                    }
                    body.push(stmt(BPF_RET_K, RET_KILL));
                }
                Cond::MaskZero(arg, mask) => {
                    let off = OFF_ARGS + 8 * u32::from(*arg);
                    body.push(stmt(BPF_LD_W_ABS, off));
                    body.push(jump(BPF_JSET_K, *mask as u32, 0, 1));
                    body.push(stmt(BPF_RET_K, RET_KILL));
                    body.push(stmt(BPF_LD_W_ABS, off + 4));
                    body.push(jump(BPF_JSET_K, (*mask >> 32) as u32, 0, 1));
                    body.push(stmt(BPF_RET_K, RET_KILL));
                }
            }
        }
        body.push(stmt(BPF_RET_K, RET_ALLOW));
        p.push(stmt(BPF_LD_W_ABS, OFF_NR));
        p.push(jump(BPF_JEQ_K, a.nr as u32, 0, body.len()));
        p.extend(body);
    }
    p.push(stmt(BPF_RET_K, RET_KILL));
    p
}

/// Installs a classic BPF seccomp filter (with `no_new_privs`).
pub fn install_bpf(prog: &[libc::sock_filter]) -> Result<(), String> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).map_err(|_| "filter too long")?,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!("PR_SET_NO_NEW_PRIVS: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `fprog` points at `prog`, which is alive for the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &fprog as *const libc::sock_fprog)
    };
    if rc != 0 {
        return Err(format!("seccomp: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_within_upstream() {
        assert!(kvm_syscall_count() <= 18);
        assert!(process_syscall_count() <= 18);
        let names: Vec<_> = allowlist(&Fds::default()).iter().map(|a| a.name).collect();
        assert!(!names.contains(&"read"), "no read without taps");
    }

    #[test]
    fn bpf_builds() {
        let p = process_bpf(&Fds { vcpu: None, net: vec![5, 6], block: vec![7] }, 0x10000, 512 << 20);
        assert!(p.len() < 200);
        let p = process_bpf(&Fds::default(), 0x10000, 1 << 32);
        assert!(!p.is_empty());
    }
}
