//! Fuzz target: see tracer::fuzzing::run_report.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tracer::fuzzing::run_report(data));
