//! The `FlagsObject` Durable Object: the one place a flag document is
//! written, so two admins saving over the same version cannot both win
//! (compare-and-set on the version, in one single-threaded object). Each
//! accepted document is published to Workers KV, where every edge isolate
//! reads it. Its calls: [`crate::flags_api`].

use serde::Deserialize;
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, State, durable_object};

use crate::flags_api::{CALL, FlagsCall, KV_BINDING, KV_KEY, Published};
use crate::respond::{json, problem};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS flag_document (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    version     INTEGER NOT NULL,
    document    TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL
);";

#[derive(Deserialize)]
struct Row {
    version: i64,
    document: String,
}

#[durable_object]
pub struct FlagsObject {
    env: Env,
    sql: SqlStorage,
    schema_error: Option<String>,
}

impl FlagsObject {
    fn current(&self) -> Result<Published> {
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT version, document FROM flag_document", None)?
            .to_array()?;
        Ok(match rows.into_iter().next() {
            None => Published {
                version: 0,
                document: None,
            },
            Some(r) => Published {
                version: r.version,
                document: Some(serde_json::from_str(&r.document)?),
            },
        })
    }

    async fn publish(&self, published: &Published) -> Result<()> {
        let text = serde_json::to_string(published)?;
        self.env
            .kv(KV_BINDING)?
            .put(KV_KEY, text)
            .map_err(|e| worker::Error::RustError(e.to_string()))?
            .execute()
            .await
            .map_err(|e| worker::Error::RustError(e.to_string()))
    }
}

impl DurableObject for FlagsObject {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        let schema_error = sql.exec(SCHEMA, None).err().map(|e| e.to_string());
        Self {
            env,
            sql,
            schema_error,
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if let Some(e) = &self.schema_error {
            worker::console_error!("flags: schema setup failed: {e}");
            return problem(500, "the flag store is unavailable");
        }
        let call: FlagsCall = match crate::body::read_call(&mut req, CALL).await {
            Ok(call) => call,
            Err(refusal) => return refusal,
        };
        match call {
            FlagsCall::Document => json(200, &self.current()?),
            FlagsCall::Save(save) => {
                // Compare and set, with no `.await` in between: one wins.
                let current = self.current()?;
                if current.version != save.if_match {
                    return problem(
                        412,
                        format!(
                            "the flags changed: they are at version {}; reload and apply your change again",
                            current.version
                        ),
                    );
                }
                let next = Published {
                    version: current.version + 1,
                    document: Some(save.document),
                };
                self.sql.exec(
                    "INSERT INTO flag_document (singleton, version, document, updated_at, updated_by)
                     VALUES (1, ?, ?, ?, ?)
                     ON CONFLICT (singleton) DO UPDATE SET version = excluded.version,
                         document = excluded.document, updated_at = excluded.updated_at,
                         updated_by = excluded.updated_by",
                    vec![
                        next.version.into(),
                        serde_json::to_string(&next.document)?.into(),
                        (worker::Date::now().as_millis() as i64).into(),
                        save.actor.into(),
                    ],
                )?;
                if let Err(e) = self.publish(&next).await {
                    worker::console_error!(
                        "flags: version {} stored but not published: {e}",
                        next.version
                    );
                    return problem(
                        503,
                        "the flags were saved but could not be published yet; save again",
                    );
                }
                json(200, &next)
            }
        }
    }
}
