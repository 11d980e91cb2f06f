//! Who is signed in, and signing in.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Actor, Role};

/// Who the request's token or session belongs to.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionDto {
    /// Whether this server needs no token (every request may do everything).
    pub open: bool,
    /// The token's name; `null` on an open server.
    pub name: Option<String>,
    /// What the requests may do.
    pub role: Role,
    /// When the dashboard session ends; `null` for a bearer token or an open server.
    pub expires_at: Option<String>,
}

impl SessionDto {
    /// The session of `actor`, on a server that is `open` or not.
    pub fn of(actor: &Actor, open: bool) -> Self {
        Self {
            open,
            name: actor.name.clone(),
            role: actor.role,
            expires_at: actor.session_expires_at.map(super::api_time),
        }
    }
}

/// Body of `POST /auth/session`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignInRequest {
    /// The token, as `evalboard token create` printed it.
    #[schema(min_length = 1, max_length = 256)]
    pub token: String,
}
