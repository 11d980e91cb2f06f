//! Hearing about other processes' events: PostgreSQL `LISTEN` on the channel every commit with
//! events notifies, and on the one replicas publish their streaming previews on (previews are
//! not stored: a notification is all there is of them).

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{CHANNEL, PREVIEW_CHANNEL};
use diesel::RunQueryDsl;

use crate::{
    connection::{Backend, on_backend},
    database::Database,
    error::StoreError,
};

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
    /// only this process writes while it serves (see [`Database::event_commits`]). The previews
    /// any process publishes ([`Database::publish_previews`]) go to `previews`, as published,
    /// while it has room (a preview is worth nothing a moment later). Must be called within a
    /// tokio runtime, which drives the connection.
    pub async fn event_listener(
        &self,
        previews: mpsc::Sender<String>,
    ) -> Result<Option<EventListener>, StoreError> {
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
                if let AsyncMessage::Notification(notification) = message {
                    if notification.channel() == PREVIEW_CHANNEL {
                        let _ = previews.try_send(notification.payload().to_owned());
                    } else {
                        // Full means a wake-up is already pending, which covers this one too.
                        let _ = notify.try_send(());
                    }
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {PREVIEW_CHANNEL}"))
            .await
            .map_err(lost)?;
        Ok(Some(EventListener {
            notifications,
            _client: client,
        }))
    }

    /// Publishes streaming previews to every process's listener (PostgreSQL; nothing to do on
    /// SQLite, where one process serves). A payload holds at most 8,000 bytes.
    pub fn publish_previews(&self, payload: &str) -> Result<(), StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        self.read(|conn| {
            on_backend!(conn, |c| diesel::select(super::pg_notify(
                PREVIEW_CHANNEL,
                payload
            ))
            .execute(c))?;
            Ok(())
        })
    }
}
