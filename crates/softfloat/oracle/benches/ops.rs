//! Placeholder; the benchmark is written below.
fn main() {}
