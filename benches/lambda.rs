//! Lambda benchmark (being written).
fn main() {}
