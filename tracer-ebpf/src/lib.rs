#![no_std]
// The probes are the `tracer` binary of this crate (src/main.rs); this empty library lets
// tracer/build.rs depend on the crate so cargo rebuilds the probes when they change.
