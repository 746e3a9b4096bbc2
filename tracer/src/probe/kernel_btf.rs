//! Byte offsets of kernel struct members, read from the kernel's BTF (`/sys/kernel/btf/vmlinux`),
//! for the few places where the probes must read a kernel struct the tracepoint does not hand
//! them. aya parses BTF too, but keeps its type walk private; this reads just what is needed:
//! the type section's records, the strings, and the members of a named struct.
//!
//! Format: <https://docs.kernel.org/bpf/btf.html> (header, then `btf_type` records with
//! kind-specific data after each, then the string section).

/// BTF kinds whose records are followed by data of their own (everything else has none).
const INT: u32 = 1;
const ARRAY: u32 = 3;
const STRUCT: u32 = 4;
const UNION: u32 = 5;
const ENUM: u32 = 6;
const FUNC_PROTO: u32 = 13;
const VAR: u32 = 14;
const DATASEC: u32 = 15;
const DECL_TAG: u32 = 17;
const ENUM64: u32 = 19;

/// The kernel's BTF, as raw bytes, with the type and string sections located.
pub struct KernelBtf<'a> {
    types: &'a [u8],
    strings: &'a [u8],
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

impl<'a> KernelBtf<'a> {
    /// Locates the sections of little-endian BTF; `None` if it is not BTF.
    #[must_use]
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        if bytes.get(0..2)? != [0x9f, 0xeb] {
            return None;
        }
        let header_len = usize::try_from(u32_at(bytes, 4)?).ok()?;
        let field = |at| usize::try_from(u32_at(bytes, at)?).ok();
        let (type_off, type_len) = (field(8)?, field(12)?);
        let (str_off, str_len) = (field(16)?, field(20)?);
        let section = |off: usize, len: usize| bytes.get(header_len + off..header_len + off + len);
        Some(Self {
            types: section(type_off, type_len)?,
            strings: section(str_off, str_len)?,
        })
    }

    fn string(&self, offset: u32) -> Option<&'a [u8]> {
        let rest = self.strings.get(usize::try_from(offset).ok()?..)?;
        Some(&rest[..rest.iter().position(|&b| b == 0)?])
    }

    /// Byte offset of `member` in `struct name` (a direct member; the first struct of that
    /// name), or `None` if the BTF has no such struct or member, or the member is a bit field.
    #[must_use]
    pub fn member_offset(&self, name: &str, member: &str) -> Option<u32> {
        let mut at = 0;
        while at + 12 <= self.types.len() {
            let name_off = u32_at(self.types, at)?;
            let info = u32_at(self.types, at + 4)?;
            let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
            let kind_flag = info >> 31 == 1;
            let data = at + 12;
            if kind == STRUCT && self.string(name_off)? == name.as_bytes() {
                for index in 0..vlen {
                    let entry = data + index * 12;
                    if self.string(u32_at(self.types, entry)?)? != member.as_bytes() {
                        continue;
                    }
                    let offset = u32_at(self.types, entry + 8)?;
                    // With kind_flag, the top 8 bits are a bit field's size (0 if not one).
                    let (bits, size) = if kind_flag {
                        (offset & 0x00ff_ffff, offset >> 24)
                    } else {
                        (offset, 0)
                    };
                    return (size == 0 && bits % 8 == 0).then_some(bits / 8);
                }
                return None;
            }
            at = data
                + match kind {
                    INT | VAR | DECL_TAG => 4,
                    ARRAY => 12,
                    STRUCT | UNION | DATASEC | ENUM64 => 12 * vlen,
                    ENUM | FUNC_PROTO => 8 * vlen,
                    _ => 0,
                };
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BTF with `int` and `struct signal_struct { int pad; int live; }`, built by hand.
    fn sample() -> Vec<u8> {
        let strings = b"\0int\0signal_struct\0pad\0live\0".to_vec();
        let mut types = Vec::new();
        let mut record = |words: &[u32]| {
            for word in words {
                types.extend_from_slice(&word.to_le_bytes());
            }
        };
        // [1] int: name "int" (1), kind INT, size 4, then its encoding word.
        record(&[1, INT << 24, 4, 32]);
        // [2] struct signal_struct (5), 2 members, size 8: pad (19) at bit 0, live (23) at 32.
        record(&[5, (STRUCT << 24) | 2, 8, 19, 1, 0, 23, 1, 32]);
        let mut bytes = Vec::new();
        for word in [
            0x0001_eb9f_u32,
            24,
            0,
            u32::try_from(types.len()).unwrap(),
            u32::try_from(types.len()).unwrap(),
            u32::try_from(strings.len()).unwrap(),
        ] {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        bytes.extend_from_slice(&types);
        bytes.extend_from_slice(&strings);
        bytes
    }

    #[test]
    fn finds_a_members_byte_offset() {
        let bytes = sample();
        let btf = KernelBtf::parse(&bytes).unwrap();
        assert_eq!(btf.member_offset("signal_struct", "live"), Some(4));
        assert_eq!(btf.member_offset("signal_struct", "pad"), Some(0));
        assert_eq!(btf.member_offset("signal_struct", "nope"), None);
        assert_eq!(btf.member_offset("task_struct", "signal"), None);
        assert!(KernelBtf::parse(b"not btf at all").is_none());
    }

    /// On this machine's kernel, the members the exit probe reads exist and are where a
    /// 64-bit kernel keeps them (non-zero, 4-byte aligned).
    #[test]
    fn this_kernels_btf_has_the_members_the_exit_probe_reads() {
        let bytes = std::fs::read("/sys/kernel/btf/vmlinux").expect("kernel BTF (CI has it)");
        let btf = KernelBtf::parse(&bytes).unwrap();
        let signal = btf.member_offset("task_struct", "signal").unwrap();
        let live = btf.member_offset("signal_struct", "live").unwrap();
        assert!(signal > 0 && signal.is_multiple_of(8), "{signal}");
        assert!(live.is_multiple_of(4), "{live}");
    }
}
