//! The mock organisation over real TCP: served traffic lands in the ledger under derived key
//! ids, the admin reports answer it in each provider's exact shape (pagination, grouping,
//! bucket widths, cents and dollars), revisions and injected failures behave, auth is checked
//! per provider, and no response ever shows a raw admin key.
#![expect(clippy::unwrap_used, reason = "tests")]

mod client;
mod control;
mod costs;
mod reports;
