//! Dashboard sessions: a browser's `EventSource` cannot send an `Authorization` header, so the
//! dashboard trades a token for a cookie (`POST /auth/session`) and every request of the page,
//! streams included, carries it. The cookie is `HttpOnly` (the page's scripts never see it) and
//! `SameSite=Strict` (no other site's page sends it), and holds base64url of
//! `s1|<expiry, Unix seconds>|<first 16 bytes of the token's digest, hex>|<token name>` followed
//! by a 16-byte HMAC-SHA256 tag under the installation's session key (kept in the database, so
//! every replica accepts it). A session lasts until it expires or its token leaves the
//! configuration; its role is the token's role at the time of each request.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Access, AccessToken};
use crate::signed::Sealer;

/// What every session cookie's name starts with; the installation's id follows.
pub(crate) const COOKIE: &str = "evalboard_session";

/// The name of the installation secret sessions are signed with.
pub(crate) const SESSION_SECRET: &str = "session-cookie-hmac";

/// How far another replica's clock may run ahead of this one's: a session it issued may end
/// this much later than one issued here at the same moment.
const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// Issues and checks session cookies with one key.
#[derive(Debug)]
pub(crate) struct Sessions {
    sealer: Sealer,
    cookie_name: String,
}

impl Sessions {
    /// Sessions signed with `key`.
    pub(crate) fn new(key: [u8; 32]) -> Self {
        let sealer = Sealer::new(key);
        // Browsers send a host's cookies to every port of it: two installations on one machine
        // (staging on :8081, production on :8080) would sign each other's dashboards out under
        // one name. Every replica of one installation shares its key, so its name.
        let cookie_name = format!("{COOKIE}_{}", sealer.id("session cookie name"));
        Self {
            sealer,
            cookie_name,
        }
    }

    /// The name of this installation's session cookie.
    pub(crate) fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The cookie value of a session of `token` ending at `expires_at`.
    pub(crate) fn issue(&self, token: &AccessToken, expires_at: DateTime<Utc>) -> String {
        self.sealer.seal(&format!(
            "s1|{}|{}|{}",
            expires_at.timestamp(),
            &token.digest.to_hex()[..32],
            token.name
        ))
    }

    /// The token a cookie value stands for and when its session ends, if this installation
    /// issued it, it has not expired at `now`, it ends no later than a session issued now
    /// would (`auth.session_hours` shortened cuts the sessions already issued), and the token is
    /// still configured.
    pub(crate) fn verify<'a>(
        &self,
        value: &str,
        access: &'a Access,
        now: DateTime<Utc>,
    ) -> Option<(&'a AccessToken, DateTime<Utc>)> {
        let text = self.sealer.open(value)?;
        let mut fields = text.splitn(4, '|');
        if fields.next()? != "s1" {
            return None;
        }
        let expires_at = DateTime::from_timestamp(fields.next()?.parse().ok()?, 0)?;
        let digest = hex::decode(fields.next()?).ok()?;
        let name = fields.next()?;
        let longest = TimeDelta::from_std(access.session_ttl()).ok()? + CLOCK_SKEW;
        if expires_at <= now || expires_at > now + longest {
            return None;
        }
        let token = access
            .tokens
            .iter()
            .flatten()
            .find(|t| t.name == name && t.digest.starts_with(&digest))?;
        Some((token, expires_at))
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use chrono::TimeDelta;

    use super::*;
    use crate::auth::Role;

    #[test]
    fn the_cookie_is_named_for_the_installation() {
        let name = Sessions::new([7; 32]).cookie_name().to_owned();
        assert_eq!(
            Sessions::new([7; 32]).cookie_name(),
            name,
            "every replica alike"
        );
        assert_ne!(Sessions::new([8; 32]).cookie_name(), name);
        assert!(
            name.starts_with("evalboard_session_") && name.len() == 30,
            "{name}"
        );
    }

    #[test]
    fn a_session_holds_until_it_expires_or_its_token_is_gone() {
        let sessions = Sessions::new([7; 32]);
        let (_, ci) = AccessToken::generate("ci", Role::Operator);
        let (_, alice) = AccessToken::generate("alice", Role::Viewer);
        let access = Access::with_tokens(vec![ci.clone(), alice]);
        let now = Utc::now();
        let cookie = sessions.issue(&ci, now + TimeDelta::hours(1));
        let (token, _) = sessions.verify(&cookie, &access, now).expect("valid");
        assert_eq!(token.name, "ci");
        // Expired.
        assert!(
            sessions
                .verify(&cookie, &access, now + TimeDelta::hours(2))
                .is_none()
        );
        // Another installation's key, or an altered cookie.
        assert!(
            Sessions::new([8; 32])
                .verify(&cookie, &access, now)
                .is_none()
        );
        let mut altered = URL_SAFE_NO_PAD.decode(&cookie).unwrap();
        altered[3] ^= 1;
        assert!(
            sessions
                .verify(&URL_SAFE_NO_PAD.encode(altered), &access, now)
                .is_none()
        );
        // The token left the configuration, or another token took its name.
        let (_, renamed) = AccessToken::generate("ci", Role::Admin);
        assert!(
            sessions
                .verify(&cookie, &Access::with_tokens(vec![renamed]), now)
                .is_none()
        );
        assert!(sessions.verify("", &access, now).is_none());
    }

    #[test]
    fn a_shorter_session_life_cuts_sessions_already_issued() {
        let sessions = Sessions::new([7; 32]);
        let (_, ci) = AccessToken::generate("ci", Role::Operator);
        let now = Utc::now();
        let cookie = sessions.issue(&ci, now + TimeDelta::hours(700));
        let long = Access::with_tokens(vec![ci.clone()])
            .with_sessions(std::time::Duration::from_secs(720 * 3600), false);
        assert!(sessions.verify(&cookie, &long, now).is_some());
        let short = Access::with_tokens(vec![ci])
            .with_sessions(std::time::Duration::from_secs(3600), false);
        assert!(sessions.verify(&cookie, &short, now).is_none());
        // The session's own last hour is inside the shorter life.
        assert!(
            sessions
                .verify(
                    &cookie,
                    &short,
                    now + TimeDelta::hours(699) + TimeDelta::minutes(1)
                )
                .is_some()
        );
    }
}
