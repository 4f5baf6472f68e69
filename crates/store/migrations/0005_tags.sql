-- Defined tags: a colour and an optional description for a key=value tag. Events carry tags in
-- event_tags whether or not they are defined here; a tag without a row shows a default colour
-- computed from its name (tokenwatch_core::tags::default_color). Renaming a tag rewrites
-- event_tags and the tag rollup, and moves this row, in one transaction.
CREATE TABLE IF NOT EXISTS tags (
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    color TEXT NOT NULL,
    description TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (key, value)
);
