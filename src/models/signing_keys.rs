//! Provides the signing key ring's rows (`signing_keys`).

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::signing_keys;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    /// The JOSE name (`EdDSA`, `ES256`, `RS256`, `HS256`).
    pub algorithm: String,
    /// The public JWK (JSON) published at `/.well-known/jwks.json`; empty for HMAC keys.
    pub public_jwk: String,
    pub sealed_private_key: String,
    pub created_at: i64,
    /// The latest activation (a key activated again signs again).
    pub activated_at: Option<i64>,
    /// The first activation, never moved.
    pub first_activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

impl SigningKeyRow {
    /// `generated`, `active` (signs), `verifying` (activated before, superseded) or `retired`,
    /// given which row signs.
    pub fn state(&self, signing_kid: Option<&str>) -> &'static str {
        if self.retired_at.is_some() {
            "retired"
        } else if Some(self.kid.as_str()) == signing_kid {
            "active"
        } else if self.activated_at.is_some() {
            "verifying"
        } else {
            "generated"
        }
    }
}

/// The row that signs: the latest activation among the keys not retired.
pub fn signing(rows: &[SigningKeyRow]) -> Option<&SigningKeyRow> {
    rows.iter()
        .filter(|row| row.retired_at.is_none() && row.activated_at.is_some())
        .max_by_key(|row| row.activated_at)
}

/// Every key, oldest first.
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .order((signing_keys::created_at, signing_keys::kid))
        .select(SigningKeyRow::as_select())
        .load(conn)
}

pub fn insert(conn: &mut DbConnection, row: &SigningKeyRow) -> QueryResult<()> {
    diesel::insert_into(signing_keys::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Makes the key the one that signs (the latest activation signs); false when no key that is
/// not retired has that kid. `at` must be later than every activation (a unique index refuses
/// a tie).
pub fn activate(conn: &mut DbConnection, kid: &str, at: i64) -> QueryResult<bool> {
    let updated = diesel::update(
        signing_keys::table
            .find(kid)
            .filter(signing_keys::retired_at.is_null()),
    )
    .set((
        signing_keys::activated_at.eq(Some(at)),
        signing_keys::first_activated_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        >("COALESCE(first_activated_at, ")
        .bind::<diesel::sql_types::BigInt, _>(at)
        .sql(")")),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Retires the key: it neither signs nor verifies any more, nor is it published.
pub fn retire(conn: &mut DbConnection, kid: &str, at: i64) -> QueryResult<bool> {
    let updated = diesel::update(
        signing_keys::table
            .find(kid)
            .filter(signing_keys::retired_at.is_null()),
    )
    .set(signing_keys::retired_at.eq(Some(at)))
    .execute(conn)?;
    Ok(updated == 1)
}
