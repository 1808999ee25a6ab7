//! The `GuardObject` Durable Object: session revocations and failed-login
//! counters, where they hold across isolates and locations. Each object
//! forgets itself (alarm) once what it remembers no longer matters.

use serde::Deserialize;
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, State, durable_object};

use crate::body::read_call;
use crate::guard::Failures;
use crate::guard_api::{CALL, GuardCall, LoginVerdict, Revoked};
use crate::respond::{alarm_at, json, problem};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS guard (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    revoked_until INTEGER,
    window_start  INTEGER NOT NULL DEFAULT 0,
    failures      INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO guard (singleton) VALUES (1);";

#[durable_object]
pub struct GuardObject {
    state: State,
    sql: SqlStorage,
    schema_error: Option<String>,
}

#[derive(Deserialize)]
struct Row {
    revoked_until: Option<i64>,
    window_start: i64,
    failures: i64,
}

impl GuardObject {
    fn row(&self) -> Result<Row> {
        self.sql
            .exec(
                "SELECT revoked_until, window_start, failures FROM guard WHERE singleton = 1",
                None,
            )?
            .one()
    }

    fn store(&self, failures: Failures) -> Result<()> {
        self.sql.exec(
            "UPDATE guard SET window_start = ?, failures = ?",
            vec![failures.window_start.into(), failures.count.into()],
        )?;
        Ok(())
    }

    /// Forget everything at `at` (Unix seconds), unless already due later.
    async fn forget_at(&self, at: i64) -> Result<()> {
        let at_ms = at.saturating_mul(1000);
        let current = self.state.storage().get_alarm().await?;
        if current.is_none_or(|c| c < at_ms) {
            self.state.storage().set_alarm(alarm_at(at_ms)).await?;
        }
        Ok(())
    }
}

impl DurableObject for GuardObject {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let schema_error = sql.exec(SCHEMA, None).err().map(|e| e.to_string());
        Self {
            state,
            sql,
            schema_error,
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if let Some(e) = &self.schema_error {
            worker::console_error!("guard: schema setup failed: {e}");
            return problem(500, "the session guard is unavailable");
        }
        let call: GuardCall = match read_call(&mut req, CALL).await {
            Ok(call) => call,
            Err(refusal) => return refusal,
        };
        match call {
            GuardCall::Revoke(revoke) => {
                self.sql.exec(
                    "UPDATE guard SET revoked_until = MAX(COALESCE(revoked_until, 0), ?)",
                    vec![revoke.until.into()],
                )?;
                self.forget_at(revoke.until).await?;
                json(200, &Revoked { revoked: true })
            }
            GuardCall::IsRevoked => {
                let row = self.row()?;
                json(
                    200,
                    &Revoked {
                        revoked: row.revoked_until.is_some(),
                    },
                )
            }
            GuardCall::LoginReserve(attempt) => {
                let row = self.row()?;
                let failures = Failures {
                    window_start: row.window_start,
                    count: row.failures,
                };
                // Check and take in one synchronous step: no other request
                // to this object runs between the two.
                let verdict = match failures.reserve(attempt.now, attempt.limit) {
                    Ok(taken) => {
                        self.store(taken)?;
                        self.forget_at(taken.window_start + attempt.limit.window)
                            .await?;
                        LoginVerdict {
                            allowed: true,
                            retry_after: 0,
                            window_start: taken.window_start,
                        }
                    }
                    Err(retry_after) => LoginVerdict {
                        allowed: false,
                        retry_after,
                        window_start: failures.window_start,
                    },
                };
                json(200, &verdict)
            }
            GuardCall::LoginRelease(release) => {
                let row = self.row()?;
                let failures = Failures {
                    window_start: row.window_start,
                    count: row.failures,
                }
                .release(release.window_start);
                self.store(failures)?;
                json(200, &failures)
            }
        }
    }

    /// Alarms are at-least-once: clearing twice is harmless.
    async fn alarm(&self) -> Result<Response> {
        self.state.storage().delete_all().await?;
        // This instance may serve again: give it its table back.
        self.sql.exec(SCHEMA, None)?;
        Response::ok("forgotten")
    }
}
