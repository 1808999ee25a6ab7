//! The origin's idempotency records in SQLite: origin-adapter's
//! [`IdempotencyStore`] over the same database the writes go to.

use std::sync::{Arc, Mutex};

use origin_adapter::idempotency::{
    Decision, IdempotencyStore, RETENTION, Record, RecordState, StoreError, StoredResponse, decide,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    status        INTEGER,
    content_type  TEXT,
    body          BLOB,
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys(created_at);";

/// Idempotency records in the origin's database.
#[derive(Clone)]
pub struct SqliteKeys {
    pub db: Arc<Mutex<Connection>>,
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl SqliteKeys {
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.lock().map_err(|_| failed("database lock poisoned"))?;
            f(&mut conn).map_err(failed)
        })
        .await
        .map_err(failed)?
    }
}

/// Looks up, decides and records a running attempt in one transaction.
pub fn begin(
    conn: &mut Connection,
    scope: &str,
    key: &str,
    fingerprint: &str,
    now: i64,
) -> rusqlite::Result<Decision> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Expired records go as new ones arrive; the index keeps this cheap.
    tx.execute(
        "DELETE FROM idempotency_keys WHERE created_at <= ?1",
        [now - RETENTION],
    )?;
    let existing = tx
        .query_row(
            "SELECT fingerprint, created_at, started_at, status, content_type, body
             FROM idempotency_keys WHERE scope = ?1 AND key = ?2",
            params![scope, key],
            |r| {
                let status: Option<u16> = r.get(3)?;
                Ok(Record {
                    fingerprint: r.get(0)?,
                    created: r.get(1)?,
                    state: match status {
                        None => RecordState::Running { started: r.get(2)? },
                        Some(status) => RecordState::Done(StoredResponse {
                            status,
                            content_type: r.get(4)?,
                            body: r.get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default(),
                        }),
                    },
                })
            },
        )
        .optional()?;
    let decision = decide(existing.as_ref(), fingerprint, now);
    if decision == Decision::Run {
        tx.execute(
            "INSERT OR REPLACE INTO idempotency_keys (scope, key, fingerprint, created_at, started_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![scope, key, fingerprint, now],
        )?;
    }
    tx.commit()?;
    Ok(decision)
}

impl IdempotencyStore for SqliteKeys {
    async fn begin(
        &self,
        scope: String,
        key: String,
        fingerprint: String,
        now: i64,
    ) -> Result<Decision, StoreError> {
        self.with(move |c| begin(c, &scope, &key, &fingerprint, now))
            .await
    }

    async fn complete(
        &self,
        scope: String,
        key: String,
        response: StoredResponse,
    ) -> Result<(), StoreError> {
        self.with(move |c| {
            c.execute(
                "UPDATE idempotency_keys SET status = ?3, content_type = ?4, body = ?5
                 WHERE scope = ?1 AND key = ?2",
                params![
                    scope,
                    key,
                    response.status,
                    response.content_type,
                    response.body
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn release(&self, scope: String, key: String) -> Result<(), StoreError> {
        self.with(move |c| {
            c.execute(
                "DELETE FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND status IS NULL",
                params![scope, key],
            )
            .map(drop)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_runs_the_second_waits_and_expired_keys_run_again() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        assert_eq!(
            begin(&mut c, "guest", "k", "f", 100).unwrap(),
            Decision::Run
        );
        assert_eq!(
            begin(&mut c, "guest", "k", "f", 101).unwrap(),
            Decision::InProgress
        );
        assert_eq!(
            begin(&mut c, "user:1", "k", "f", 101).unwrap(),
            Decision::Run,
            "scopes are separate"
        );
        assert_eq!(
            begin(&mut c, "guest", "k", "g", 101).unwrap(),
            Decision::Mismatch
        );
        c.execute(
            "UPDATE idempotency_keys SET status = 201, body = x'7b7d' WHERE scope = 'guest'",
            [],
        )
        .unwrap();
        assert!(matches!(
            begin(&mut c, "guest", "k", "f", 102).unwrap(),
            Decision::Replay(StoredResponse { status: 201, .. })
        ));
        assert_eq!(
            begin(&mut c, "guest", "k", "f", 100 + RETENTION).unwrap(),
            Decision::Run
        );
    }
}
