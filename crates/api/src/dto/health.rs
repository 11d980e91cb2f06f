//! Liveness and readiness answers.

use serde::Serialize;
use utoipa::ToSchema;

/// Health or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthDto {
    /// `ok` or `ready`.
    pub status: &'static str,
    /// For `/readyz`: the database backend, `sqlite` or `postgres`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
}
