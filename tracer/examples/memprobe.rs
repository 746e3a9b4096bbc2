fn hwm(stage: &str) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l: Vec<_> = s
        .lines()
        .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
        .collect();
    eprintln!("{stage}: {l:?}");
}
fn main() {
    hwm("start");
    let btf = aya::Btf::from_sys_fs().unwrap();
    hwm("btf parsed");
    drop(btf);
    hwm("btf dropped");
    let _e = tracer::probe::EmptyProbes::attach(None).unwrap();
    hwm("empty attached");
}
