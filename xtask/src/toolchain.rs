//! The dated nightly that builds the eBPF probes, read from `tracer-ebpf/rust-toolchain.toml`
//! (the one place it is written): setup installs it, `ebpf` and `fuzz` build with it.
use anyhow::{Context as _, anyhow};

use crate::cmd;

/// The toolchain file, relative to the workspace root.
pub const FILE: &str = "tracer-ebpf/rust-toolchain.toml";

/// The pinned nightly's rustup name, e.g. `nightly-2026-05-20`.
pub fn ebpf_nightly() -> anyhow::Result<String> {
    let path = cmd::workspace_root().join(FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    channel(&text).ok_or_else(|| anyhow!("{} has no `channel = \"...\"` line", path.display()))
}

/// The `channel` of a rust-toolchain.toml.
fn channel(toml: &str) -> Option<String> {
    toml.lines().find_map(|line| {
        let value = line
            .trim()
            .strip_prefix("channel")?
            .trim_start()
            .strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_owned()).filter(|name| !name.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_is_read_from_the_toolchain_file() {
        let toml = "# comment\n[toolchain]\nchannel = \"nightly-2026-05-20\"\ncomponents = [\"rust-src\"]\n";
        assert_eq!(channel(toml).as_deref(), Some("nightly-2026-05-20"));
        assert_eq!(channel("[toolchain]\n"), None);
    }

    #[test]
    fn the_pin_is_a_dated_nightly() {
        let nightly = ebpf_nightly().expect("tracer-ebpf/rust-toolchain.toml");
        let date = nightly.strip_prefix("nightly-").expect("a nightly");
        assert_eq!(date.len(), "2026-05-20".len(), "{nightly} is dated");
    }
}
