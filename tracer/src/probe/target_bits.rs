//! The collector's view of `TARGET_BITS`, the probes' first filter: one bit per pid, set
//! exactly for the pids in `TARGET_TGIDS` (see `tracer_common::maps::TARGET_BITS`).
//!
//! The probes set and clear bits with atomic BPF instructions as targets fork and exit. A
//! `bpf_map_update_elem` from here would write a whole 64-pid word and could undo a bit the
//! kernel set meanwhile, so the collector maps the array into its memory and uses atomic
//! operations on the same words instead.
use std::{
    os::fd::{AsFd as _, AsRawFd as _},
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};

use aya::maps::Map;
use tracer_common::{capacity::TARGET_BIT_WORDS, target_bit};

/// `TARGET_BITS` mapped read-write into this process; unmapped on drop.
pub struct TargetBits {
    words: NonNull<AtomicU64>,
}

// SAFETY: the mapping is shared memory accessed only through atomics; nothing is tied to the
// thread that made it.
unsafe impl Send for TargetBits {}
// SAFETY: as above; every access is an atomic operation.
unsafe impl Sync for TargetBits {}

const BYTES: usize = TARGET_BIT_WORDS as usize * size_of::<u64>();

impl TargetBits {
    /// Maps the loaded `TARGET_BITS` array (created with `BPF_F_MMAPABLE`).
    pub fn map(map: &Map) -> anyhow::Result<Self> {
        let Map::Array(data) = map else {
            anyhow::bail!("the probes' TARGET_BITS map is not an array");
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
        let words = NonNull::new(address.cast::<AtomicU64>())
            .ok_or_else(|| anyhow::anyhow!("mmap of the target set returned a null address"))?;
        Ok(Self { words })
    }

    /// Sets `pid`'s bit. Pids beyond the map cannot exist on Linux; they are refused.
    pub fn insert(&self, pid: u32) -> anyhow::Result<()> {
        self.word(pid)?
            .fetch_or(target_bit(pid).1, Ordering::SeqCst);
        Ok(())
    }

    /// Whether `pid`'s bit is set.
    pub fn contains(&self, pid: u32) -> bool {
        self.word(pid)
            .is_ok_and(|word| word.load(Ordering::SeqCst) & target_bit(pid).1 != 0)
    }

    fn word(&self, pid: u32) -> anyhow::Result<&AtomicU64> {
        let (index, _) = target_bit(pid);
        if index >= TARGET_BIT_WORDS {
            anyhow::bail!("PID {pid} is beyond the largest PID Linux allows (4,194,304)");
        }
        // SAFETY: `index` is within the mapping of TARGET_BIT_WORDS words, which lives as long
        // as `self`; AtomicU64 has the alignment and size of the kernel's u64 words.
        Ok(unsafe { self.words.add(index as usize).as_ref() })
    }
}

impl Drop for TargetBits {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, with its length; no reference outlives `self`.
        unsafe { libc::munmap(self.words.as_ptr().cast(), BYTES) };
    }
}
