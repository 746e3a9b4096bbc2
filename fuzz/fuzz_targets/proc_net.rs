//! Fuzz target: see tracer::fuzzing::proc_net.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tracer::fuzzing::proc_net(data));
