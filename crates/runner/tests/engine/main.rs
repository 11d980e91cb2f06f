//! The engine against a real database (SQLite and PostgreSQL) and real HTTP: the Simulated
//! provider, and an OpenAI-compatible stub server that misbehaves on request.

mod support;

mod analysis;
mod drain;
mod outage;
mod simulated;
mod stub_provider;
