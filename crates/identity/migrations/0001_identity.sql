CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    jurisdiction TEXT,
    totp_secret TEXT,
    totp_last_step BIGINT NOT NULL,
    email_verified BIGINT NOT NULL,
    failed_logins BIGINT NOT NULL,
    locked_until_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE auth_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce TEXT,
    scope TEXT NOT NULL,
    amr TEXT NOT NULL,
    auth_time_s BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used BIGINT NOT NULL,
    family_id TEXT
);
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    amr TEXT NOT NULL,
    auth_time_s BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used BIGINT NOT NULL,
    revoked BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id, client_id);
CREATE TABLE email_verifications (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used BIGINT NOT NULL
);
