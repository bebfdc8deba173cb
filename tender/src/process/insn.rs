//! A minimal x86-64 decoder for the instructions a guest's CPU set-up and hypercalls use,
//! which trap (#GP) when the guest runs in ring 3.

/// Register numbers as encoded in ModRM/REX (0 = rax … 15 = r15).
pub type Reg = u8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insn {
    /// `out dx, eax` / `out dx, ax` / `out dx, al` / `out imm8, …`: port I/O of `size` bytes.
    /// `port` is `None` when it is in `dx`.
    Out {
        size: u8,
        port: Option<u16>,
    },
    /// Any `in`.
    In,
    /// Instructions whose only effect on a ring-3 guest is none at all: lgdt, lidt, ltr,
    /// lldt, mov to a segment register, cli, sti, invlpg, clts, wbinvd, swapgs.
    Skip,
    /// `mov crN, reg`.
    MovToCr {
        cr: u8,
        reg: Reg,
    },
    /// `mov reg, crN`.
    MovFromCr {
        cr: u8,
        reg: Reg,
    },
    Wrmsr,
    Rdmsr,
    /// `iretq` (64-bit operand size only).
    Iretq,
    /// `retfq [imm16]`.
    Retfq {
        pop: u16,
    },
    /// `pop fs` / `pop gs`.
    PopSeg,
    Hlt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub insn: Insn,
    pub len: usize,
}

/// Length of a ModRM operand (ModRM, SIB and displacement bytes) starting at `b[0]`.
fn modrm_len(b: &[u8]) -> Option<usize> {
    let modrm = *b.first()?;
    let (md, rm) = (modrm >> 6, modrm & 7);
    if md == 3 {
        return Some(1);
    }
    let mut len = 1;
    if rm == 4 {
        let sib = *b.get(1)?;
        len += 1;
        if md == 0 && sib & 7 == 5 {
            len += 4;
        }
    } else if md == 0 && rm == 5 {
        len += 4; // rip-relative
    }
    len += match md {
        1 => 1,
        2 => 4,
        _ => 0,
    };
    (b.len() >= len).then_some(len)
}

/// Decodes the instruction at the start of `b`; `None` for anything not handled.
pub fn decode(b: &[u8]) -> Option<Decoded> {
    let mut i = 0;
    let mut opsize16 = false;
    let mut rex = 0u8;
    while i < b.len().min(14) {
        match b[i] {
            0x66 => opsize16 = true,
            0x67 | 0xf2 | 0xf3 | 0x2e | 0x36 | 0x3e | 0x26 | 0x64 | 0x65 => {}
            _ => break,
        }
        i += 1;
    }
    if let Some(&r) = b.get(i)
        && r & 0xf0 == 0x40
    {
        rex = r;
        i += 1;
    }
    let w = rex & 8 != 0;
    let rex_r = (rex >> 2) & 1;
    let rex_b = rex & 1;
    let op = *b.get(i)?;
    i += 1;
    // An instruction is only decoded when all its bytes are there (the guest may trap at
    // the end of its memory; found by the `insn` fuzz target).
    let d = |insn: Insn, len: usize| (len <= b.len()).then_some(Decoded { insn, len });
    match op {
        0xef => d(Insn::Out { size: if opsize16 { 2 } else { 4 }, port: None }, i),
        0xee => d(Insn::Out { size: 1, port: None }, i),
        0xe6 | 0xe7 => {
            let port = u16::from(*b.get(i)?);
            let size = if op == 0xe6 {
                1
            } else if opsize16 {
                2
            } else {
                4
            };
            d(Insn::Out { size, port: Some(port) }, i + 1)
        }
        0xec | 0xed => d(Insn::In, i),
        0xe4 | 0xe5 => d(Insn::In, i + 1),
        0xfa | 0xfb => d(Insn::Skip, i),
        0xf4 => d(Insn::Hlt, i),
        0xcf if w => d(Insn::Iretq, i),
        0xcb if w => d(Insn::Retfq { pop: 0 }, i),
        0xca if w => {
            let imm = u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]);
            d(Insn::Retfq { pop: imm }, i + 2)
        }
        0x8e => d(Insn::Skip, i + modrm_len(&b[i..])?),
        0x0f => {
            let op2 = *b.get(i)?;
            i += 1;
            match op2 {
                0x01 => {
                    let modrm = *b.get(i)?;
                    let reg = (modrm >> 3) & 7;
                    if modrm == 0xf8 {
                        return d(Insn::Skip, i + 1); // swapgs
                    }
                    match reg {
                        2 | 3 | 7 if modrm >> 6 != 3 => d(Insn::Skip, i + modrm_len(&b[i..])?), // lgdt, lidt, invlpg
                        _ => None,
                    }
                }
                0x00 => {
                    let reg = (*b.get(i)? >> 3) & 7;
                    match reg {
                        2 | 3 => d(Insn::Skip, i + modrm_len(&b[i..])?), // lldt, ltr
                        _ => None,
                    }
                }
                0x20 | 0x22 => {
                    let modrm = *b.get(i)?;
                    let cr = ((modrm >> 3) & 7) | (rex_r << 3);
                    let reg = (modrm & 7) | (rex_b << 3);
                    let insn = if op2 == 0x22 { Insn::MovToCr { cr, reg } } else { Insn::MovFromCr { cr, reg } };
                    d(insn, i + 1)
                }
                0x30 => d(Insn::Wrmsr, i),
                0x32 => d(Insn::Rdmsr, i),
                0x06 | 0x08 | 0x09 => d(Insn::Skip, i), // clts, invd, wbinvd
                0xa1 | 0xa9 => d(Insn::PopSeg, i),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(b: &[u8]) -> usize {
        decode(b).expect("decodes").len
    }

    #[test]
    fn lengths() {
        assert_eq!(decode(&[0xef]).unwrap().insn, Insn::Out { size: 4, port: None });
        assert_eq!(len(&[0x0f, 0x01, 0x15, 1, 2, 3, 4]), 7); // lgdt [rip+disp32]
        assert_eq!(len(&[0x0f, 0x01, 0x10]), 3); // lgdt [rax]
        assert_eq!(len(&[0x0f, 0x01, 0x14, 0x24]), 4); // lgdt [rsp]
        assert_eq!(len(&[0x0f, 0x01, 0x54, 0x24, 0x08]), 5); // lgdt [rsp+8]
        assert_eq!(len(&[0x41, 0x0f, 0x01, 0x90, 1, 2, 3, 4]), 8); // lgdt [r8+disp32]
        assert_eq!(len(&[0x0f, 0x01, 0x1c, 0x25, 0, 0, 0x10, 0]), 8); // lidt [disp32]
        assert_eq!(len(&[0x8e, 0xd0]), 2); // mov ss, ax
        assert_eq!(len(&[0x66, 0x8e, 0xd8]), 3);
        assert_eq!(len(&[0x0f, 0x00, 0xd8]), 3); // ltr ax
        assert_eq!(len(&[0x48, 0xcb]), 2); // retfq
        assert_eq!(len(&[0x48, 0xcf]), 2); // iretq
        assert_eq!(decode(&[0x0f, 0x30]).unwrap().insn, Insn::Wrmsr);
        assert_eq!(decode(&[0x0f, 0x20, 0xd0]).unwrap().insn, Insn::MovFromCr { cr: 2, reg: 0 });
        assert_eq!(decode(&[0x44, 0x0f, 0x22, 0xc1]).unwrap().insn, Insn::MovToCr { cr: 8, reg: 1 });
        assert!(decode(&[0x0f, 0x0b]).is_none()); // ud2
        assert!(decode(&[0x0f, 0x01]).is_none()); // truncated
        assert!(decode(&[0x0f, 0x01, 0x15, 1]).is_none()); // truncated displacement
        assert!(decode(&[]).is_none());
        assert!(decode(&[0xe4]).is_none()); // in al, imm8 without its imm8
        assert_eq!(len(&[0xe4, 0x10]), 2);
    }
}
