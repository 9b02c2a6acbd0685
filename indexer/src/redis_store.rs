//! The Redis index store.
//!
//! | Redis key            | type       | holds                                  |
//! |----------------------|------------|----------------------------------------|
//! | `<prefix>i:<key>`    | sorted set | member = score = log index             |
//! | `<prefix>cursor`     | string     | `<last log index>:<leaf hash hex>`     |
//!
//! A batch is one Lua script, which Redis runs atomically: it checks that the
//! cursor is still the one the reconciler last wrote, then `ZADD`s the
//! batch's members and `SET`s the new cursor. So Redis never holds a cursor
//! ahead of its members, and a FLUSHALL between two batches cannot leave a
//! cursor over a hole (the script finds no cursor and writes nothing; the
//! reconciler rebuilds). `ZADD` of a member already there changes nothing, so
//! replaying a batch is harmless. Only plain structures are used (Redis 6.2+,
//! no modules; on a cluster the keys would need one hash tag).

use std::collections::BTreeMap;

use redis::aio::ConnectionManager;

use crate::store::{Cursor, IndexError, IndexStore, IndexedEntry};

/// KEYS[1] the cursor, ARGV[1] the cursor expected ("" for none), ARGV[2]
/// the new cursor; then KEYS[i] a member key and ARGV[i+1] its members,
/// comma-separated. Returns 1 if applied, 0 if the cursor moved. Members
/// go to ZADD 1,000 at a time: Lua's `unpack` refuses more than about 8,000
/// values, so one ZADD per key failed for batches above ~4,000 entries.
static APPLY_SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r#"
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
for i = 2, #KEYS do
  local args = {}
  for member in string.gmatch(ARGV[i + 1], '[^,]+') do
    args[#args + 1] = member
    args[#args + 1] = member
    if #args >= 2000 then
      redis.call('ZADD', KEYS[i], unpack(args))
      args = {}
    end
  end
  if #args > 0 then redis.call('ZADD', KEYS[i], unpack(args)) end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"#,
    )
});

/// An index in Redis under a key prefix.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); every key goes under `prefix`.
    /// The connection reconnects by itself after Redis restarts.
    ///
    /// # Errors
    ///
    /// [`IndexError::Redis`] if the URL is bad or Redis does not answer.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, IndexError> {
        let client = redis::Client::open(url)?;
        let connection = ConnectionManager::new(client).await?;
        Ok(Self {
            connection,
            prefix: prefix.to_string(),
        })
    }

    fn member_key(&self, key: &str) -> String {
        format!("{}i:{key}", self.prefix)
    }

    fn cursor_key(&self) -> String {
        format!("{}cursor", self.prefix)
    }

    fn zadd(&self, pipe: &mut redis::Pipeline, key: &str, members: &[u64]) {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(self.member_key(key));
        for m in members {
            cmd.arg(*m).arg(*m);
        }
        pipe.add_command(cmd).ignore();
    }
}

impl IndexStore for RedisStore {
    async fn cursor(&self) -> Result<Option<Cursor>, IndexError> {
        let mut conn = self.connection.clone();
        let text: Option<String> = redis::cmd("GET")
            .arg(self.cursor_key())
            .query_async(&mut conn)
            .await?;
        text.map(|t| Cursor::decode(&t)).transpose()
    }

    async fn apply(
        &self,
        entries: &[IndexedEntry],
        expected: Option<Cursor>,
        cursor: Cursor,
    ) -> Result<(), IndexError> {
        // Group members by key: one ZADD per key per batch.
        let mut by_key: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for entry in entries {
            for key in &entry.keys {
                by_key.entry(key).or_default().push(entry.index);
            }
        }
        let mut invocation = APPLY_SCRIPT.prepare_invoke();
        invocation
            .key(self.cursor_key())
            .arg(expected.map(|c| c.encode()).unwrap_or_default())
            .arg(cursor.encode());
        for (key, members) in &by_key {
            let list: Vec<String> = members.iter().map(u64::to_string).collect();
            invocation.key(self.member_key(key)).arg(list.join(","));
        }
        let mut conn = self.connection.clone();
        let applied: i64 = invocation.invoke_async(&mut conn).await?;
        if applied == 1 {
            Ok(())
        } else {
            Err(IndexError::CursorMoved)
        }
    }

    async fn range(
        &self,
        key: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, IndexError> {
        let min = match after {
            Some(a) => format!("({a}"),
            None => "-inf".to_string(),
        };
        let mut conn = self.connection.clone();
        let members: Vec<u64> = redis::cmd("ZRANGE")
            .arg(self.member_key(key))
            .arg(min)
            .arg("+inf")
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await?;
        Ok(members)
    }

    async fn contains(&self, key: &str, member: u64) -> Result<bool, IndexError> {
        let mut conn = self.connection.clone();
        let score: Option<f64> = redis::cmd("ZSCORE")
            .arg(self.member_key(key))
            .arg(member)
            .query_async(&mut conn)
            .await?;
        Ok(score.is_some())
    }

    async fn contains_many(&self, key: &str, members: &[u64]) -> Result<Vec<bool>, IndexError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        // ZMSCORE (Redis 6.2+): one score or nil per member, in order.
        let mut cmd = redis::cmd("ZMSCORE");
        cmd.arg(self.member_key(key));
        for m in members {
            cmd.arg(*m);
        }
        let mut conn = self.connection.clone();
        let scores: Vec<Option<f64>> = cmd.query_async(&mut conn).await?;
        Ok(scores.iter().map(Option::is_some).collect())
    }

    async fn count(&self, key: &str) -> Result<u64, IndexError> {
        let mut conn = self.connection.clone();
        let count: u64 = redis::cmd("ZCARD")
            .arg(self.member_key(key))
            .query_async(&mut conn)
            .await?;
        Ok(count)
    }

    async fn keys(&self) -> Result<Vec<String>, IndexError> {
        let pattern = format!("{}i:*", escape_glob(&self.prefix));
        let strip = format!("{}i:", self.prefix);
        let mut conn = self.connection.clone();
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            keys.extend(
                batch
                    .into_iter()
                    .filter_map(|k| k.strip_prefix(&strip).map(str::to_string)),
            );
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    async fn add(&self, key: &str, members: &[u64]) -> Result<(), IndexError> {
        if members.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        self.zadd(&mut pipe, key, members);
        let mut conn = self.connection.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn remove(&self, key: &str, members: &[u64]) -> Result<(), IndexError> {
        if members.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.member_key(key));
        for m in members {
            cmd.arg(*m);
        }
        let mut conn = self.connection.clone();
        cmd.query_async::<()>(&mut conn).await?;
        Ok(())
    }
}
