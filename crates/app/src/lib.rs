//! tokenwatch-app: the use-cases both front doors call — the HTTP API (`tokenwatch-server`)
//! and the terminal (`tokenwatch`, the CLI) — so a question asked either way gets the same
//! answer, the same checks and the same messages.
//!
//! It owns the configuration ([`config`]: types, loading, validation), channel secrets
//! ([`secrets`]), the outbound HTTP client ([`client`]), the price table ([`prices`]), the live
//! policy — tag rules, budgets, alert rules and channels ([`policy`], [`budgets`], [`alerts`],
//! [`notify`]) — the one event pipeline every event passes ([`pipeline`]), imports
//! ([`imports`]) and the background jobs of `serve` ([`jobs`]), start-up wiring ([`start`]),
//! the live feed's bus ([`live`]), the public views of stored data ([`events::EventView`],
//! [`alerts::AlertView`], [`tags::TagRow`]) with the parsing of the shared filters
//! ([`events::EventsQuery`], [`params`]), tag management and bulk re-tagging, and one domain
//! error, [`AppError`]. It knows nothing of HTTP serving or of the terminal: the server maps
//! [`AppError`] to a status and a JSON body in one place, the CLI to a message. It never
//! depends on `tokenwatch-server`.

pub mod advisor;
pub mod alerts;
pub mod analysis;
pub mod analytics;
pub mod attribution;
pub mod budgets;
pub mod client;
pub mod config;
pub mod error;
pub mod events;
pub mod guard;
pub mod imports;
pub mod jobs;
pub mod live;
pub mod notify;
pub mod params;
pub mod pipeline;
pub mod policy;
pub mod prices;
pub mod retag;
pub mod secrets;
pub mod start;
pub mod sync;
pub mod tags;
pub mod teams;
pub mod units;

pub use error::{AppError, FieldProblem};
