//! Fuzz target: see tracer::fuzzing::run_file.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tracer::fuzzing::run_file(data));
