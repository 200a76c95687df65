-- DRF's tutorial Snippet (parts 1-4): created in Unix seconds (the tutorial's ordering).
CREATE TABLE snippets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created BIGINT NOT NULL,
    title VARCHAR(100) NOT NULL DEFAULT '',
    code TEXT NOT NULL,
    linenos BOOLEAN NOT NULL DEFAULT 0,
    language VARCHAR(100) NOT NULL DEFAULT 'python',
    style VARCHAR(100) NOT NULL DEFAULT 'friendly',
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX snippets_owner_id ON snippets (owner_id);
