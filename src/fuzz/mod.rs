//! Property-based fuzzing (proptest) with a fixed case budget per `cargo test` run; the budget
//! and the measured time are in docs/testing.md. A failing case prints its minimal input and
//! proptest records its seed in `proptest-regressions/fuzz/<file>.txt` (commit that file: the case
//! is replayed first on every later run); keep the input as a unit test next to the code it
//! breaks, then fix the code.

mod frames;
mod placement;
mod spec;
