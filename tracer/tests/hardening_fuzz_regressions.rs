//! The fuzz targets' seeds and every input a fuzz run ever found failing (fuzz/regressions/
//! <target>/), fed to the same entry points as plain tests, so `cargo test` guards them
//! without nightly or cargo-fuzz.
use std::path::Path;

#[test]
fn every_seed_and_every_saved_crash_input_passes_its_fuzz_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut fed = 0;
    for (target, check) in tracer::fuzzing::TARGETS {
        for folder in ["seeds", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(folder).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                eprintln!("{target}: {}", path.display());
                check(&data);
                fed += 1;
            }
        }
    }
    assert!(fed >= 10, "the seeds are there: {fed} inputs");
}

/// Shapes that broke parsers elsewhere, kept here as named cases.
#[test]
fn hand_written_hostile_inputs() {
    for (target, check) in tracer::fuzzing::TARGETS {
        for input in [
            &b""[..],
            b"\n",
            b"\xff\xfe",
            b"{}",
            b"{\"kind\":\"tracer-run\",\"schema\":18446744073709551615}",
            b"{\"kind\":\"tracer-run\",\"schema\":-1}",
            b"{\"kind\":\"tracer-run\",\"schema\":1e400}",
            b"field:int x[;\toffset:99999999999;",
            b"x\n\tfield:int x;\toffset:-1;\n",
            b"  sl\n 0: :: :: 01 0 0 0 0 0 18446744073709551616\n",
            b"0: 0100007F:FFFFF 0:0 0 0 0 0 0 0 1",
            b"00000000000000000000000001000000:0050",
            b"0000000:0",
            b"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9:00",
            b"cri-containerd-.scope",
            b"kubepods-pod.slice",
            b"a_b_c",
            b"/",
            b"containerd://",
            b"1e308h",
            b"99999999999999999999999999s",
            b".s",
            b"\xc2\xb5s",
        ] {
            eprintln!("{target}: {:?}", String::from_utf8_lossy(input));
            check(input);
        }
    }
}
