//! tracefs: where the tracepoint ids and record layouts are. Mounted by tracer when missing
//! (we run as root), as the syscall-tracepoint mechanism and fork/exit tracking need it.
use std::path::{Path, PathBuf};

pub struct Tracefs {
    root: PathBuf,
}

/// Finds tracefs, mounting it at /sys/kernel/tracing if needed.
pub fn ensure_mounted() -> Result<Tracefs, String> {
    for root in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if Path::new(root).join("events").is_dir() {
            return Ok(Tracefs { root: root.into() });
        }
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: all pointers are valid NUL-terminated strings; data may be null.
    let rc = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 && Path::new("/sys/kernel/tracing/events").is_dir() {
        return Ok(Tracefs {
            root: "/sys/kernel/tracing".into(),
        });
    }
    Err(format!(
        "tracefs is not mounted and mounting it at /sys/kernel/tracing failed ({})",
        std::io::Error::last_os_error()
    ))
}

impl Tracefs {
    /// Byte offset of `field` in the record of `event` (e.g. "`sched/sched_process_fork`").
    pub fn field_offset(&self, event: &str, field: &str) -> Option<u32> {
        let format =
            std::fs::read_to_string(self.root.join("events").join(event).join("format")).ok()?;
        parse_field_offset(&format, field)
    }
}

/// Parses `field:<type> <name>;\toffset:<n>;...` lines of a tracepoint format file.
pub(crate) fn parse_field_offset(format: &str, field: &str) -> Option<u32> {
    format.lines().find_map(|line| {
        let declaration = line.trim().strip_prefix("field:")?.split(';').next()?;
        let name = declaration.rsplit([' ', '*']).next()?;
        let name = name.split('[').next()?;
        if name != field {
            return None;
        }
        line.split(';')
            .find_map(|part| part.trim().strip_prefix("offset:")?.parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::parse_field_offset;

    #[test]
    fn finds_offsets_in_real_format_files() {
        // From Linux 6.18: /sys/kernel/tracing/events/sched/sched_process_{fork,exit}/format.
        let fork = "\tfield:__data_loc char[] parent_comm;\toffset:8;\tsize:4;\tsigned:0;\n\
                    \tfield:pid_t parent_pid;\toffset:12;\tsize:4;\tsigned:1;\n\
                    \tfield:__data_loc char[] child_comm;\toffset:16;\tsize:4;\tsigned:0;\n\
                    \tfield:pid_t child_pid;\toffset:20;\tsize:4;\tsigned:1;\n";
        assert_eq!(parse_field_offset(fork, "child_pid"), Some(20));
        assert_eq!(parse_field_offset(fork, "child_comm"), Some(16));
        let exit = "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\
                    \tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n\
                    \tfield:bool group_dead;\toffset:32;\tsize:1;\tsigned:0;\n";
        assert_eq!(parse_field_offset(exit, "group_dead"), Some(32));
        assert_eq!(parse_field_offset(exit, "comm"), Some(8));
        assert_eq!(parse_field_offset(exit, "nope"), None);
    }
}
