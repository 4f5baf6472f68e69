//! tokenwatch-app: the use-cases both front doors call — the HTTP API (`tokenwatch-server`)
//! and the terminal (`tokenwatch`, the CLI) — so a question asked either way gets the same
//! answer, the same checks and the same messages.
//!
//! It owns the public views of stored data ([`events::EventView`], [`alerts::AlertView`],
//! [`tags::TagRow`]), the parsing of the shared filters ([`events::EventsQuery`], [`params`]),
//! tag management and bulk re-tagging, and one domain error, [`AppError`]. It knows nothing of
//! HTTP or of the terminal: the server maps [`AppError`] to a status and a JSON body in one
//! place, the CLI to a message. It never depends on `tokenwatch-server`.

pub mod alerts;
pub mod error;
pub mod events;
pub mod params;
pub mod retag;
pub mod tags;
pub mod units;

pub use error::{AppError, FieldProblem};
