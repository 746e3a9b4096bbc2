//! Fuzz target: see tracer::fuzzing::target_names.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tracer::fuzzing::target_names(data));
