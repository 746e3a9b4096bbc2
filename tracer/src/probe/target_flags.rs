//! The collector's view of `TARGET_FLAGS`, the probes' first filter: one byte per pid, 1
//! exactly for the pids in `TARGET_TGIDS` (see `tracer_common::maps::TARGET_FLAGS`).
//!
//! The probes set and clear flags as targets fork and exit. A `bpf_map_update_elem` from here
//! would write a whole 8-pid word and could undo a flag the kernel set meanwhile, so the
//! collector maps the array into its memory and stores single bytes, as the probes do.
use std::{
    os::fd::{AsFd as _, AsRawFd as _},
    ptr::NonNull,
    sync::atomic::{AtomicU8, Ordering},
};

use aya::maps::Map;
use tracer_common::capacity::TARGET_FLAG_WORDS;

/// `TARGET_FLAGS` mapped read-write into this process; unmapped on drop.
pub struct TargetFlags {
    bytes: NonNull<AtomicU8>,
}

// SAFETY: the mapping is shared memory accessed only through atomics; nothing is tied to the
// thread that made it.
unsafe impl Send for TargetFlags {}
// SAFETY: as above; every access is an atomic load or store.
unsafe impl Sync for TargetFlags {}

/// One byte per pid: the map's words, 8 bytes each, back to back.
const BYTES: usize = TARGET_FLAG_WORDS as usize * size_of::<u64>();

impl TargetFlags {
    /// Maps the loaded `TARGET_FLAGS` array (created with `BPF_F_MMAPABLE`).
    pub fn map(map: &Map) -> anyhow::Result<Self> {
        let Map::Array(data) = map else {
            anyhow::bail!("the probes' TARGET_FLAGS map is not an array");
        };
        let fd = data.fd().as_fd().as_raw_fd();
        // SAFETY: a fresh shared mapping of a map fd we own; the kernel checks the length
        // against the map's size and fails the call (checked below) otherwise.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if address == libc::MAP_FAILED {
            anyhow::bail!(
                "cannot map the probes' target set into memory: {}",
                std::io::Error::last_os_error()
            );
        }
        let bytes = NonNull::new(address.cast::<AtomicU8>())
            .ok_or_else(|| anyhow::anyhow!("mmap of the target set returned a null address"))?;
        Ok(Self { bytes })
    }

    /// Sets `pid`'s flag. Pids beyond the map cannot exist on Linux; they are refused.
    pub fn insert(&self, pid: u32) -> anyhow::Result<()> {
        self.flag(pid)?.store(1, Ordering::SeqCst);
        Ok(())
    }

    /// Whether `pid`'s flag is set.
    pub fn contains(&self, pid: u32) -> bool {
        self.flag(pid)
            .is_ok_and(|flag| flag.load(Ordering::SeqCst) != 0)
    }

    fn flag(&self, pid: u32) -> anyhow::Result<&AtomicU8> {
        let index = pid as usize;
        if index >= BYTES {
            anyhow::bail!("PID {pid} is beyond the largest PID Linux allows (4,194,304)");
        }
        // SAFETY: `index` is within the mapping, which lives as long as `self`; byte `pid` of
        // the map is pid's flag (`tracer_common::target_flag`: word pid / 8, byte pid % 8).
        Ok(unsafe { self.bytes.add(index).as_ref() })
    }
}

impl Drop for TargetFlags {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, with its length; no reference outlives `self`.
        unsafe { libc::munmap(self.bytes.as_ptr().cast(), BYTES) };
    }
}

#[cfg(test)]
mod tests {
    use tracer_common::target_flag;

    /// The collector addresses pid's flag as byte `pid` of the map; the probes as byte
    /// `pid % 8` of word `pid / 8`: the same byte.
    #[test]
    fn the_collector_and_the_probes_address_the_same_byte() {
        for pid in [0, 1, 7, 8, 9, 4_194_303, 123_457] {
            let (word, byte) = target_flag(pid);
            assert_eq!(word as usize * 8 + byte, pid as usize);
            assert!(byte < 8);
        }
    }
}
