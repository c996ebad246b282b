//! Subcommands of the binary that are not the operator itself.

pub mod admin;
pub mod endpoints;
pub mod kubeconfig;
pub mod plan;
pub mod pod;
