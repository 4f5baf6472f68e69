//! Reads that return rows by the hundred, on plain connections of their own to a SQLite file.
//!
//! sqlx's SQLite driver steps each statement on its own thread and hands every row across to
//! the awaiting task, a wake-up per row: the 380 day × model rows of a year's `report daily`
//! took 7.0 ms that way, where stepping them on a plain connection takes about 2.4 ms. Such
//! reads run here instead, on a blocking thread, on a kept connection (opened on first use, at
//! most [`KEEP`] of them, so concurrent dashboard reads each get their own).
//!
//! Invariants: these connections only read (`PRAGMA query_only`); a read that fails drops its
//! connection; [`Store::close`](crate::Store::close) drops them all before its checkpoint.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::{Store, StoreError};

/// Read connections kept between reads.
const KEEP: usize = 4;

/// The kept read connections of a store (empty unless it is a SQLite file).
#[derive(Clone, Default)]
pub(crate) struct Readers(Arc<Mutex<Vec<rusqlite::Connection>>>);

impl Readers {
    fn take(&self) -> Option<rusqlite::Connection> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    fn give_back(&self, conn: rusqlite::Connection) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < KEEP {
            kept.push(conn);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Closes every kept connection.
    pub(crate) fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A connection of its own for reading: read-write flags, so that opening a WAL database never
/// depends on its shared-memory file already existing, and `query_only`, so it cannot write.
pub(crate) fn open_reader(
    path: &Path,
    action: &'static str,
) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let failed = |source| StoreError::Bulk { action, source };
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(failed)?;
    conn.execute_batch("PRAGMA query_only = ON;")
        .map_err(failed)?;
    Ok(conn)
}

/// A SQLite file and its kept read connections: where [`OwnReader::read`] runs a read.
pub(crate) struct OwnReader {
    path: PathBuf,
    readers: Readers,
}

impl Store {
    /// The reader for reads on connections of their own when the store is a SQLite file;
    /// `None` for the others (in-memory SQLite, PostgreSQL), which read through the pool.
    pub(crate) fn own_reader(&self) -> Option<OwnReader> {
        Some(OwnReader {
            path: self.bulk_path()?,
            readers: self.readers.clone(),
        })
    }
}

impl OwnReader {
    /// Runs `read` on a kept read connection (opened if none is free), on a blocking thread.
    pub(crate) async fn read<T, F>(self, action: &'static str, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let OwnReader { path, readers } = self;
        tokio::task::spawn_blocking(move || {
            let conn = match readers.take() {
                Some(conn) => conn,
                None => open_reader(&path, action)?,
            };
            let result = read(&conn)?;
            readers.give_back(conn);
            Ok(result)
        })
        .await
        .unwrap_or(Err(StoreError::Interrupted(
            "a read on its own connection stopped",
        )))
    }
}

#[cfg(test)]
mod tests {
    use crate::{Store, StoreError};

    fn count(conn: &rusqlite::Connection) -> Result<i64, StoreError> {
        conn.query_row("SELECT COUNT(*) FROM usage_events", [], |r| r.get(0))
            .map_err(|source| StoreError::Bulk {
                action: "counting",
                source,
            })
    }

    #[tokio::test]
    async fn reads_share_kept_connections_that_cannot_write() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("tw.db");
        let store = Store::open(path.to_str().expect("a UTF-8 path"))
            .await
            .expect("the store opens");
        let reader = || store.own_reader().expect("a SQLite file reads on its own");
        let refused = reader()
            .read("deleting", |conn| {
                conn.execute("DELETE FROM usage_events", [])
                    .map_err(|source| StoreError::Bulk {
                        action: "deleting",
                        source,
                    })
            })
            .await
            .expect_err("a read connection cannot write");
        assert!(refused.to_string().contains("deleting"), "{refused}");
        assert_eq!(store.readers.len(), 0, "a failed read drops its connection");

        assert_eq!(reader().read("counting", count).await.expect("read"), 0);
        assert_eq!(reader().read("counting", count).await.expect("read"), 0);
        assert_eq!(
            store.readers.len(),
            1,
            "the second read reused the first's connection"
        );

        store.close().await;
        assert_eq!(store.readers.len(), 0, "closing closes the kept readers");
        let memory = Store::open("sqlite::memory:").await.expect("in memory");
        assert!(
            memory.own_reader().is_none(),
            "in memory reads through its pool"
        );
    }
}
