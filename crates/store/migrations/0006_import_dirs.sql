-- What a log import last listed in each directory, so an unchanged directory is not read again.
-- `identity` is the directory's device, inode, mtime and ctime when it was listed; `entries`
-- holds one line per subdirectory ('d'), symlink ('l') or log file ('f'): kind, a space, name.
CREATE TABLE IF NOT EXISTS import_dirs (
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    identity TEXT NOT NULL,
    entries TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (source, path)
);
