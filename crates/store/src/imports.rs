//! What importers remember between runs: file cursors and directory listings, read on a
//! connection of their own on a SQLite file. Accounts and subscriptions, which users declare by
//! hand, are in [`accounts`].
//!
//! Invariants: a cursor is saved only after the events read up to it are committed, so a crash
//! re-reads (and dedup absorbs) rather than skips.

mod accounts;

pub use accounts::{Account, Subscription};

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row};

use crate::{Store, StoreError, now_ms, with_pool};

/// Where an import last stopped in one file, and how to recognise the same file again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportCursor {
    pub source: String,
    pub path: String,
    /// A hash of the file's first bytes: a different value means the file was replaced.
    pub fingerprint: String,
    pub size_bytes: i64,
    pub mtime_ms: i64,
    /// Bytes consumed: everything before this offset ended in a newline and was read.
    pub offset_bytes: i64,
    /// Lines consumed, so messages can name a line number on a later pass.
    pub lines_read: i64,
}

/// What a log import last found in one directory: an unchanged directory (same `identity`)
/// is not listed again, only its entries are looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportDir {
    /// The directory, spelled like the cursors' paths (its root's canonical path joined with
    /// the path below it).
    pub path: String,
    /// Device, inode, mtime and ctime when it was listed; any entry added, removed or renamed
    /// changes the last two.
    pub identity: String,
    /// One line per entry that matters to an import: `d name` (directory), `l name` (symlink)
    /// or `f name` (log file).
    pub entries: String,
}

impl Store {
    /// Every cursor of one source, keyed by path.
    ///
    /// On a SQLite file they are read on a dedicated connection: sqlx hands each row of a
    /// result from its connection thread to the caller one message at a time, which made
    /// loading 1,574 cursors most of an unchanged re-run (~15 ms against ~1 ms here).
    pub async fn import_cursors(
        &self,
        source: &str,
    ) -> Result<HashMap<String, ImportCursor>, StoreError> {
        if let Some(reader) = self.own_reader() {
            let source = source.to_owned();
            return reader
                .read("reading import cursors", move |conn| {
                    query_cursors(conn, &source)
                })
                .await;
        }
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT path, fingerprint, size_bytes, mtime_ms, offset_bytes, lines_read \
                 FROM import_cursors WHERE source = $1",
            )
            .bind(source)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("reading import cursors"))?;
            rows.iter()
                .map(|r| {
                    let path: String = r.try_get(0)?;
                    Ok((
                        path.clone(),
                        ImportCursor {
                            source: source.to_owned(),
                            path,
                            fingerprint: r.try_get(1)?,
                            size_bytes: r.try_get(2)?,
                            mtime_ms: r.try_get(3)?,
                            offset_bytes: r.try_get(4)?,
                            lines_read: r.try_get(5)?,
                        },
                    ))
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("reading import cursors"))
        })
    }

    /// Every stored directory listing of one source, keyed by path (on a SQLite file read on a
    /// dedicated connection, like the cursors).
    pub async fn import_dirs(
        &self,
        source: &str,
    ) -> Result<HashMap<String, ImportDir>, StoreError> {
        if let Some(reader) = self.own_reader() {
            let source = source.to_owned();
            return reader
                .read("reading import directories", move |conn| {
                    query_dirs(conn, &source)
                })
                .await;
        }
        with_pool!(self, pool => {
            let rows = sqlx::query_as::<_, (String, String, String)>(
                "SELECT path, identity, entries FROM import_dirs WHERE source = $1",
            )
            .bind(source)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("reading import directories"))?;
            Ok(rows
                .into_iter()
                .map(|(path, identity, entries)| {
                    (path.clone(), ImportDir { path, identity, entries })
                })
                .collect())
        })
    }

    /// What a log import of one source starts from: `on_dirs` gets the stored directory
    /// listings as soon as they are read (the walk needs them first), then the cursors are
    /// returned. On a SQLite file both are read on one connection of its own.
    pub async fn import_state(
        &self,
        source: &str,
        on_dirs: impl FnOnce(HashMap<String, ImportDir>) + Send + 'static,
    ) -> Result<HashMap<String, ImportCursor>, StoreError> {
        if let Some(reader) = self.own_reader() {
            let source = source.to_owned();
            return reader
                .read("reading import state", move |conn| {
                    on_dirs(query_dirs(conn, &source)?);
                    query_cursors(conn, &source)
                })
                .await;
        }
        on_dirs(self.import_dirs(source).await?);
        self.import_cursors(source).await
    }

    /// Saves directory listings (insert or replace) in one transaction.
    pub async fn save_import_dirs(
        &self,
        source: &str,
        dirs: &[ImportDir],
    ) -> Result<(), StoreError> {
        if dirs.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let failed = || StoreError::query("saving import directories");
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(failed())?;
            for chunk in dirs.chunks(500) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO import_dirs (source, path, identity, entries, updated_ms) ",
                );
                qb.push_values(chunk, |mut row, d| {
                    row.push_bind(source)
                        .push_bind(&d.path)
                        .push_bind(&d.identity)
                        .push_bind(&d.entries)
                        .push_bind(now);
                });
                qb.push(
                    " ON CONFLICT (source, path) DO UPDATE SET identity = excluded.identity, \
                     entries = excluded.entries, updated_ms = excluded.updated_ms",
                );
                qb.build().execute(&mut *tx).await.map_err(failed())?;
            }
            tx.commit().await.map_err(failed())
        })
    }

    /// Forgets directory listings (directories that are gone, or no longer safe to trust).
    pub async fn delete_import_dirs(
        &self,
        source: &str,
        paths: &[String],
    ) -> Result<(), StoreError> {
        if paths.is_empty() {
            return Ok(());
        }
        let failed = || StoreError::query("deleting import directories");
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(failed())?;
            for path in paths {
                sqlx::query("DELETE FROM import_dirs WHERE source = $1 AND path = $2")
                    .bind(source)
                    .bind(path)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed())?;
            }
            tx.commit().await.map_err(failed())
        })
    }

    /// Saves cursors (insert or replace) in one transaction.
    pub async fn save_import_cursors(&self, cursors: &[ImportCursor]) -> Result<(), StoreError> {
        if cursors.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("saving import cursors"))?;
            for chunk in cursors.chunks(500) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO import_cursors (source, path, fingerprint, size_bytes, mtime_ms, offset_bytes, lines_read, updated_ms) ",
                );
                qb.push_values(chunk, |mut row, c| {
                    row.push_bind(&c.source)
                        .push_bind(&c.path)
                        .push_bind(&c.fingerprint)
                        .push_bind(c.size_bytes)
                        .push_bind(c.mtime_ms)
                        .push_bind(c.offset_bytes)
                        .push_bind(c.lines_read)
                        .push_bind(now);
                });
                qb.push(
                    " ON CONFLICT (source, path) DO UPDATE SET fingerprint = excluded.fingerprint, \
                     size_bytes = excluded.size_bytes, mtime_ms = excluded.mtime_ms, \
                     offset_bytes = excluded.offset_bytes, lines_read = excluded.lines_read, \
                     updated_ms = excluded.updated_ms",
                );
                qb.build().execute(&mut *tx).await.map_err(StoreError::query("saving import cursors"))?;
            }
            tx.commit().await.map_err(StoreError::query("saving import cursors"))
        })
    }

    /// Forgets the cursors of files that no longer exist.
    pub async fn delete_import_cursors(
        &self,
        source: &str,
        paths: &[String],
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            for path in paths {
                sqlx::query("DELETE FROM import_cursors WHERE source = $1 AND path = $2")
                    .bind(source)
                    .bind(path)
                    .execute(pool)
                    .await
                    .map_err(StoreError::query("deleting import cursors"))?;
            }
            Ok(())
        })
    }

    /// Which of `keys` are stored already (for dry runs).
    pub async fn existing_dedup_keys(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut found = std::collections::HashSet::new();
        for chunk in keys.chunks(500) {
            let rows: Vec<String> = with_pool!(self, pool => {
                let mut qb = QueryBuilder::new("SELECT dedup_key FROM usage_events WHERE dedup_key IN (");
                let mut list = qb.separated(", ");
                for k in chunk {
                    list.push_bind(k.clone());
                }
                qb.push(")");
                let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("looking up events"))?;
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(StoreError::query("looking up events"))?
            });
            found.extend(rows);
        }
        Ok(found)
    }
}

/// Reads `sql` (one `?1`, the source) into a map. The queries scan their table (`NOT
/// INDEXED`): a source's rows are most of it, and a scan reads them page by page instead of
/// seeking each one from the index.
fn read_map<V>(
    conn: &rusqlite::Connection,
    source: &str,
    action: &'static str,
    sql: &str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<(String, V)>,
) -> Result<HashMap<String, V>, StoreError> {
    let failed = |source| StoreError::Bulk { action, source };
    let mut stmt = conn.prepare(sql).map_err(failed)?;
    // Collected first, so the map is sized once instead of rehashing every key as it grows.
    let rows: Vec<(String, V)> = stmt
        .query_map([source], row)
        .map_err(failed)?
        .collect::<Result<_, _>>()
        .map_err(failed)?;
    let mut map = HashMap::with_capacity(rows.len());
    map.extend(rows);
    Ok(map)
}

fn query_cursors(
    conn: &rusqlite::Connection,
    source: &str,
) -> Result<HashMap<String, ImportCursor>, StoreError> {
    read_map(
        conn,
        source,
        "reading import cursors",
        "SELECT path, fingerprint, size_bytes, mtime_ms, offset_bytes, lines_read \
         FROM import_cursors NOT INDEXED WHERE source = ?1",
        |r| {
            let path: String = r.get(0)?;
            Ok((
                path.clone(),
                ImportCursor {
                    source: source.to_owned(),
                    path,
                    fingerprint: r.get(1)?,
                    size_bytes: r.get(2)?,
                    mtime_ms: r.get(3)?,
                    offset_bytes: r.get(4)?,
                    lines_read: r.get(5)?,
                },
            ))
        },
    )
}

fn query_dirs(
    conn: &rusqlite::Connection,
    source: &str,
) -> Result<HashMap<String, ImportDir>, StoreError> {
    read_map(
        conn,
        source,
        "reading import directories",
        "SELECT path, identity, entries FROM import_dirs NOT INDEXED WHERE source = ?1",
        |r| {
            let path: String = r.get(0)?;
            Ok((
                path.clone(),
                ImportDir {
                    path,
                    identity: r.get(1)?,
                    entries: r.get(2)?,
                },
            ))
        },
    )
}
