//! Criterion benchmarks of the memory API (see docs/benchmarks.md).
fn main() {}
