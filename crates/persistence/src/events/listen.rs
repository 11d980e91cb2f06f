//! Hearing about other processes' events: PostgreSQL `LISTEN` on the channel every commit with
//! events notifies.

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::CHANNEL;
use crate::{connection::Backend, database::Database, error::StoreError};

/// A connection listening for commits with events, made by [`Database::event_listener`].
pub struct EventListener {
    notifications: mpsc::Receiver<()>,
    /// Kept so the connection stays open; its requests are done.
    _client: tokio_postgres::Client,
}

impl EventListener {
    /// Waits until some process commits events (possibly this one). Notifications that arrive
    /// while nobody waits are kept as one. An error means the connection was lost: make a new
    /// listener, and read what was missed meanwhile from the table.
    pub async fn notified(&mut self) -> Result<(), StoreError> {
        self.notifications
            .recv()
            .await
            .ok_or_else(|| StoreError::Unavailable("the event listener lost its connection".into()))
    }
}

impl Database {
    /// A listener for events committed by any process, on PostgreSQL; `None` on SQLite, where
    /// only this process writes while it serves (see [`Database::event_commits`]). Must be
    /// called within a tokio runtime, which drives the connection.
    pub async fn event_listener(&self) -> Result<Option<EventListener>, StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(None);
        }
        let lost = |e: tokio_postgres::Error| StoreError::Unavailable(e.to_string());
        let (client, mut connection) = tokio_postgres::connect(self.url_target(), NoTls)
            .await
            .map_err(lost)?;
        let (notify, notifications) = mpsc::channel(1);
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(|cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notification(_) = message {
                    // Full means a wake-up is already pending, which covers this one too.
                    let _ = notify.try_send(());
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(lost)?;
        Ok(Some(EventListener {
            notifications,
            _client: client,
        }))
    }
}
