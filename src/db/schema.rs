//! The table definitions shared by the SQLite and PostgreSQL backends.
// Written by hand: both dialects' migrations produce these column types.

diesel::table! {
    users (id) {
        id -> Integer,
        username -> Text,
        email -> Text,
        password -> Text,
        is_active -> Bool,
        is_staff -> Bool,
        is_superuser -> Bool,
        last_login -> Nullable<BigInt>,
        date_joined -> BigInt,
        tokens_valid_after -> BigInt,
    }
}

diesel::table! {
    auth_tokens (id) {
        id -> Integer,
        digest -> Text,
        sealed_key -> Nullable<Text>,
        user_id -> Integer,
        created_at -> BigInt,
    }
}

diesel::table! {
    token_families (id) {
        id -> Integer,
        sid -> Text,
        user_id -> Integer,
        current_jti -> Text,
        created_at -> BigInt,
        last_refreshed -> BigInt,
        expires_at -> BigInt,
        ip -> Text,
        user_agent -> Text,
        revoked_at -> Nullable<BigInt>,
        previous_jti -> Nullable<Text>,
    }
}

diesel::table! {
    outstanding_tokens (id) {
        id -> Integer,
        jti -> Text,
        user_id -> Nullable<Integer>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    blacklisted_tokens (id) {
        id -> Integer,
        jti -> Text,
        user_id -> Nullable<Integer>,
        expires_at -> BigInt,
        blacklisted_at -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> Integer,
        key_hash -> Text,
        user_id -> Integer,
        csrf_secret -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        public_jwk -> Text,
        sealed_private_key -> Text,
        created_at -> BigInt,
        activated_at -> Nullable<BigInt>,
        first_activated_at -> Nullable<BigInt>,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(outstanding_tokens -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(token_families -> users (user_id));
diesel::joinable!(auth_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    outstanding_tokens,
    blacklisted_tokens,
    sessions,
    token_families,
    auth_tokens,
    signing_keys
);
