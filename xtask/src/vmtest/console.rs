//! Reading a guest's console for the kernel's own signs of trouble: oopses, BUG()s, panics,
//! WARN()s, lockups and RCU stalls. Any of them fails the kernel's run, whatever the tests said.

/// Text that starts a kernel report of trouble, and what kind of trouble it is. Matched
/// anywhere in a line (after the printk timestamp), case-sensitively.
const SIGNATURES: &[(&str, &str)] = &[
    ("Kernel panic", "panic"),
    ("watchdog: BUG: soft lockup", "soft lockup"),
    ("watchdog: Watchdog detected hard LOCKUP", "hard lockup"),
    ("rcu: INFO: rcu_sched detected stalls", "RCU stall"),
    ("rcu: INFO: rcu_preempt detected stalls", "RCU stall"),
    ("detected stalls on CPUs/tasks", "RCU stall"),
    ("blocked for more than", "hung task"),
    ("general protection fault", "oops"),
    ("int3: ", "oops"),
    ("invalid opcode: ", "oops"),
    ("kernel BUG at", "BUG"),
    ("BUG:", "BUG"),
    ("Oops:", "oops"),
    ("Oops -", "oops"),
    ("WARNING: CPU", "warning"),
    ("UBSAN:", "UBSAN"),
    ("KASAN:", "KASAN"),
    ("Call Trace:", "call trace"),
];

/// A console line that reports trouble.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line number in the console log.
    pub line: usize,
    /// The kind of trouble: "oops", "panic", "warning", ...
    pub kind: &'static str,
    /// The line, trimmed.
    pub text: String,
}

/// Every line of `console` that reports kernel trouble. Lines the guest script printed itself
/// (starting with `vmtest:`) are not the kernel's and are skipped; a `Call Trace:` line counts
/// only when no other finding came just before it (it follows most reports).
pub fn findings(console: &str) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    for (index, raw) in console.lines().enumerate() {
        let line = raw.trim();
        if message(line).starts_with("vmtest:") {
            continue;
        }
        let Some(&(_, kind)) = SIGNATURES
            .iter()
            .find(|(signature, _)| line.contains(signature))
        else {
            continue;
        };
        if kind == "call trace"
            && found
                .last()
                .is_some_and(|previous| index + 1 - previous.line <= 40)
        {
            continue;
        }
        found.push(Finding {
            line: index + 1,
            kind,
            text: line.to_owned(),
        });
    }
    found
}

/// How many separate reports the findings are: the lines of one oops (its header, `BUG:` line,
/// call trace, the panic that followed) are one report when they are under 40 lines apart.
pub fn report_count(findings: &[Finding]) -> usize {
    let mut count = 0;
    let mut last_line = None;
    for finding in findings {
        if last_line.is_none_or(|last: usize| finding.line - last > 40) {
            count += 1;
        }
        last_line = Some(finding.line);
    }
    count
}

/// A console line without its printk timestamp (`[   12.345678] `).
fn message(line: &str) -> &str {
    line.strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
        .map_or(line, |(_, message)| message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN_BOOT: &str = "\
[    0.000000] Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org)
[    4.397401] virtme initramfs: done; switching to real root
[    7.503992] virtme-ng-init: unable to find udevd, skip udev.
vmtest: guest script started
vmtest: entry 1 of 3: probe_exact
[   10.610603] virtme-ng-init: script exited with code 0
[   10.619095] reboot: Power down
";

    #[test]
    fn a_clean_boot_has_no_findings() {
        assert_eq!(findings(CLEAN_BOOT), []);
        assert_eq!(report_count(&[]), 0);
    }

    #[test]
    fn the_int3_oops_and_its_panic_are_found() {
        let console = "\
[   31.002] int3: 0000 [#1] PREEMPT SMP NOPTI
[   31.003] CPU: 1 PID: 412 Comm: probe_exact Not tainted 6.12.118+deb13-amd64 #1
[   31.004] RIP: 0010:bpf_trace_run2+0x4/0x120
[   31.005] Call Trace:
[   31.006]  <TASK>
[   31.100] Kernel panic - not syncing: Fatal exception in interrupt
";
        let found = findings(console);
        let kinds: Vec<_> = found.iter().map(|finding| finding.kind).collect();
        assert_eq!(kinds, ["oops", "panic"]);
        assert_eq!(found[0].line, 1);
        assert_eq!(report_count(&found), 1, "one oops, one report");
    }

    #[test]
    fn each_kind_of_trouble_is_named() {
        let cases = [
            (
                "[ 1.0] BUG: kernel NULL pointer dereference, address: 0000000000000008",
                "BUG",
            ),
            ("[ 1.0] Oops: 0002 [#1] SMP NOPTI", "oops"),
            (
                "[ 1.0] general protection fault, probably for non-canonical address",
                "oops",
            ),
            (
                "[ 1.0] WARNING: CPU: 0 PID: 1 at kernel/bpf/verifier.c:1234 check+0x1/0x2",
                "warning",
            ),
            (
                "[ 1.0] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [tracer:321]",
                "soft lockup",
            ),
            (
                "[ 1.0] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:",
                "RCU stall",
            ),
            (
                "[ 1.0] INFO: task tracer:99 blocked for more than 120 seconds.",
                "hung task",
            ),
            ("[ 1.0] kernel BUG at mm/slub.c:379!", "BUG"),
            ("[ 1.0] sysrq: Trigger a crash", "none"),
        ];
        for (line, kind) in cases {
            let found = findings(line);
            if kind == "none" {
                assert_eq!(found, [], "{line}");
            } else {
                assert_eq!(found.len(), 1, "{line}");
                assert_eq!(found[0].kind, kind, "{line}");
            }
        }
    }

    #[test]
    fn separate_reports_are_counted_apart() {
        let mut console = String::from("[ 1.0] WARNING: CPU: 0 PID: 1 at x\n[ 1.1] Call Trace:\n");
        for _ in 0..50 {
            console.push_str("[ 2.0] ordinary line\n");
        }
        console.push_str("[ 3.0] BUG: unable to handle page fault\n[ 3.1] Oops: 0000 [#1]\n");
        for _ in 0..50 {
            console.push_str("[ 4.0] ordinary line\n");
        }
        console.push_str("[ 9.0] Call Trace:\n");
        let found = findings(&console);
        let kinds: Vec<_> = found.iter().map(|finding| finding.kind).collect();
        assert_eq!(kinds, ["warning", "BUG", "oops", "call trace"]);
        assert_eq!(report_count(&found), 3);
    }

    #[test]
    fn the_scripts_own_lines_are_not_findings() {
        assert_eq!(findings("vmtest: entry 2 of 3: oops_test BUG: pattern"), []);
        assert_eq!(message("[   12.345678] BUG: x"), "BUG: x");
        assert_eq!(message("no timestamp"), "no timestamp");
    }
}
