//! Fuzz target: see tracer::fuzzing::load_result.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tracer::fuzzing::load_result(data));
