//! HTTP tests of the whole application: requests go through actix-web's full service stack
//! (extractors, error handlers, fallback) against a real database, SQLite and PostgreSQL.

mod support;

mod active;
mod analysis;
mod auth;
mod compare;
mod dashboard;
mod datasets;
mod execution;
mod export;
mod harness;
mod live;
mod robustness;
mod runs;
