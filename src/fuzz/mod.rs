//! Property-based fuzzing (proptest) with a fixed case budget per `cargo test` run; the budget
//! and the measured time are in docs/testing.md. A failing case prints its minimal input: keep it
//! as a unit test next to the code it breaks, then fix the code.

mod frames;
mod placement;
mod spec;
