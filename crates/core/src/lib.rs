//! tokenwatch-core: the domain of "where did every token and every cent go".
//!
//! This crate owns the normalised [`UsageEvent`], the [`Usage`] token counts, money as integer
//! nano-USD, the shipped price table and cost computation, and the provider adapters that read
//! usage out of request/response bodies and SSE streams. It performs no I/O and has no async
//! runtime: everything here is a pure function of its inputs, so it is cheap to test exhaustively.

pub mod advice;
pub mod alerting;
pub mod budget;
pub mod event;
pub mod money;
pub mod pricing;
pub mod prompt;
pub mod providers;
pub mod session;
pub mod sse;
pub mod suggest;
pub mod tag_rules;
pub mod tags;
pub mod time;
pub mod usage;

pub use event::{EventStatus, Source, UsageEvent};
pub use money::{Micros, Nanos};
pub use usage::Usage;
