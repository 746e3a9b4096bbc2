//! Kernel probes (stub: being written).
