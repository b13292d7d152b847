-- `scope` marks (WIT 0.1.1), SQLite dialect. Keep in step with ../postgres/0005_plugin_marks.sql.
--
-- A row says: the plugin's narrowed hooks run for this account (a `durable` mark). The owner is
-- the account in the text form of `storage::Owner` ("user:<bare JID>"), first in the key like
-- every plugin record, so deleting the account deletes its marks with the same range delete.
CREATE TABLE plugin_marks (
    owner   TEXT NOT NULL,
    plugin  TEXT NOT NULL,
    PRIMARY KEY (owner, plugin)
) STRICT;
