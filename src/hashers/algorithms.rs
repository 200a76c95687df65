//! Django's password hashers: the encoded formats a Django `auth_user.password` column holds,
//! checked natively, so users carried over from Django keep their passwords.
//!
//! Each format is Django's own (`django/contrib/auth/hashers.py`, Django 5.2), parameters
//! included, so a hash written by any of them but `bcrypt` also verifies in Django (portcullis's
//! own bcrypt form is unprefixed, which Django does not read: docs/coming-from-django.md says
//! how to keep a way back):
//!
//! | name | stored as |
//! |---|---|
//! | `bcrypt` | `$2b$12$…` (portcullis's own, unprefixed); Django's `bcrypt$$2b$12$…` is read too |
//! | `bcrypt_sha256` | `bcrypt_sha256$$2b$12$…`, bcrypt of the hex SHA-256 of the password |
//! | `pbkdf2_sha256` | `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` (Django's default) |
//! | `pbkdf2_sha1` | `pbkdf2_sha1$<iterations>$<salt>$<base64 hash>` |
//! | `argon2` | `argon2$argon2id$v=19$m=102400,t=2,p=8$<salt>$<hash>` |
//! | `scrypt` | `scrypt$<n>$<salt>$<r>$<p>$<base64 hash>` |
//!
//! `PASSWORD_HASHERS` orders them as Django's setting does: the first hashes new passwords,
//! every one listed may verify, and a correct password stored any other way (or with other
//! parameters) is re-hashed with the first (Django's `must_update`).
//!
//! A stored hash is data, not code: its work parameters are bounded (`MAX_*`), so a hash with
//! a billion iterations, typed in or imported, is refused instead of holding a hashing thread
//! for hours.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

use super::{HasherError, MAX_PASSWORD_BYTES};

/// Django 5.2's `PBKDF2PasswordHasher.iterations`.
pub const PBKDF2_ITERATIONS: u32 = 1_000_000;
/// Django's `Argon2PasswordHasher`: time cost, memory cost (KiB), parallelism.
const ARGON2_PARAMS: (u32, u32, u32) = (2, 102_400, 8);
/// Django's `ScryptPasswordHasher`: work factor (n), block size (r), parallelism (p).
const SCRYPT_PARAMS: (u64, u32, u32) = (1 << 14, 8, 5);

/// The most work a stored hash may ask for: a few times Django's defaults (bcrypt cost 12,
/// PBKDF2 1,000,000, argon2 100 MiB × 2 passes, scrypt 16 MiB), so one check ends within about a
/// second here instead of holding one of the few hashing threads for minutes (an attack pass
/// measured a stored `$2b$16$` at 6.4 s, and cost 31 would be 58 hours). bcrypt's bound is
/// this or `BCRYPT_COST`, whichever is higher.
const MAX_BCRYPT_COST: u32 = 14;
const MAX_PBKDF2_ITERATIONS: u32 = 3_000_000;
const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// Memory × passes, in KiB: 4 × Django's 102,400 KiB × 2.
const MAX_ARGON2_WORK_KIB: u64 = 4 * 102_400 * 2;
const MAX_ARGON2_PARALLELISM: u32 = 16;
/// Both of scrypt's buffers (128·r·N and 128·r·p bytes): OpenSSL's default `maxmem`, past which
/// Django itself cannot check the hash (it raises "memory limit exceeded"), doubled.
const MAX_SCRYPT_MEMORY_BYTES: u64 = 64 << 20;
const MAX_SCRYPT_PARALLELISM: u32 = 16;
/// Django's old `MAXIMUM_PASSWORD_LENGTH`: a longer password never matches, and costs no work
/// whether the user exists or not (so it tells nothing either).
pub const MAX_CHECKED_PASSWORD_BYTES: usize = 4096;

/// One of Django's hashers, by its `algorithm` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Bcrypt,
    BcryptSha256,
    Pbkdf2Sha256,
    Pbkdf2Sha1,
    Argon2,
    Scrypt,
}

impl Algorithm {
    /// Every hasher, in the default `PASSWORD_HASHERS` order (`Hashers::default_order`).
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Bcrypt,
        Algorithm::BcryptSha256,
        Algorithm::Pbkdf2Sha256,
        Algorithm::Pbkdf2Sha1,
        Algorithm::Argon2,
        Algorithm::Scrypt,
    ];

    /// Django's `algorithm` attribute: the prefix of the stored form.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Bcrypt => "bcrypt",
            Algorithm::BcryptSha256 => "bcrypt_sha256",
            Algorithm::Pbkdf2Sha256 => "pbkdf2_sha256",
            Algorithm::Pbkdf2Sha1 => "pbkdf2_sha1",
            Algorithm::Argon2 => "argon2",
            Algorithm::Scrypt => "scrypt",
        }
    }

    /// Django's class path for it, as a `PASSWORD_HASHERS` entry names it.
    fn django_class(self) -> &'static str {
        match self {
            Algorithm::Bcrypt => "BCryptPasswordHasher",
            Algorithm::BcryptSha256 => "BCryptSHA256PasswordHasher",
            Algorithm::Pbkdf2Sha256 => "PBKDF2PasswordHasher",
            Algorithm::Pbkdf2Sha1 => "PBKDF2SHA1PasswordHasher",
            Algorithm::Argon2 => "Argon2PasswordHasher",
            Algorithm::Scrypt => "ScryptPasswordHasher",
        }
    }

    /// bcrypt reads 72 bytes; the others take any password.
    pub fn takes(self, password: &str) -> bool {
        self != Algorithm::Bcrypt || password.len() <= MAX_PASSWORD_BYTES
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;

    /// `pbkdf2_sha256`, or Django's `django.contrib.auth.hashers.PBKDF2PasswordHasher`.
    fn from_str(value: &str) -> Result<Algorithm, String> {
        let class = value
            .strip_prefix("django.contrib.auth.hashers.")
            .unwrap_or(value);
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.name() == value || algorithm.django_class() == class)
            .ok_or_else(|| {
                format!(
                    "unknown password hasher {value:?}: expected one of {}",
                    Algorithm::ALL.map(Algorithm::name).join(", ")
                )
            })
    }
}

/// A stored hash, taken apart. `None` from `parse` when the text is no format we know, or
/// asks for more work than the bounds allow.
#[derive(Debug)]
enum Stored<'a> {
    /// `truncates`: Django's `bcrypt$` form, made by a library that read only the first 72
    /// bytes of a longer password; portcullis's own never matches one (it refuses to hash it).
    Bcrypt {
        hash: &'a str,
        truncates: bool,
    },
    BcryptSha256 {
        hash: &'a str,
    },
    Pbkdf2 {
        sha1: bool,
        iterations: NonZeroU32,
        salt: &'a str,
        hash: Vec<u8>,
    },
    Argon2 {
        phc: String,
    },
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: &'a str,
        hash: Vec<u8>,
    },
}

impl Stored<'_> {
    fn algorithm(&self) -> Algorithm {
        match self {
            Stored::Bcrypt { .. } => Algorithm::Bcrypt,
            Stored::BcryptSha256 { .. } => Algorithm::BcryptSha256,
            Stored::Pbkdf2 { sha1: false, .. } => Algorithm::Pbkdf2Sha256,
            Stored::Pbkdf2 { sha1: true, .. } => Algorithm::Pbkdf2Sha1,
            Stored::Argon2 { .. } => Algorithm::Argon2,
            Stored::Scrypt { .. } => Algorithm::Scrypt,
        }
    }
}

fn bcrypt_cost(hash: &str) -> Option<u32> {
    hash.parse::<bcrypt::HashParts>()
        .ok()
        .map(|parts| parts.get_cost())
}

/// A number as Django's `%d` writes it (no sign, no leading zero), as Django compares the
/// re-encoded text: `+1000` or `01000` never verifies there, so not here either.
fn canonical<T: std::str::FromStr + ToString>(text: &str) -> Option<T> {
    let value: T = text.parse().ok()?;
    (value.to_string() == text).then_some(value)
}

/// `stored`'s hash is the length Django's hasher derives (it re-encodes in full and compares the
/// text; a shorter stored hash would match far more passwords).
fn full_length(hash: Vec<u8>, length: usize) -> Option<Vec<u8>> {
    (hash.len() == length).then_some(hash)
}

/// `encoded` taken apart, if it is a format we know within the work bounds (`max_bcrypt_cost`
/// for bcrypt).
fn parse(encoded: &str, max_bcrypt_cost: u32) -> Option<Stored<'_>> {
    let bcrypt_bounded = |hash: &str| bcrypt_cost(hash).filter(|cost| *cost <= max_bcrypt_cost);
    if encoded.starts_with('$') {
        bcrypt_bounded(encoded)?;
        return Some(Stored::Bcrypt {
            hash: encoded,
            truncates: false,
        });
    }
    let (algorithm, rest) = encoded.split_once('$')?;
    match algorithm {
        "bcrypt" | "bcrypt_sha256" => {
            bcrypt_bounded(rest)?;
            Some(if algorithm == "bcrypt" {
                Stored::Bcrypt {
                    hash: rest,
                    truncates: true,
                }
            } else {
                Stored::BcryptSha256 { hash: rest }
            })
        }
        "pbkdf2_sha256" | "pbkdf2_sha1" => {
            let sha1 = algorithm == "pbkdf2_sha1";
            let mut parts = rest.splitn(3, '$');
            let iterations = NonZeroU32::new(canonical(parts.next()?)?)
                .filter(|iterations| iterations.get() <= MAX_PBKDF2_ITERATIONS)?;
            let salt = parts.next().filter(|salt| !salt.is_empty())?;
            let hash = STANDARD.decode(parts.next()?).ok()?;
            let hash = full_length(hash, if sha1 { 20 } else { 32 })?;
            Some(Stored::Pbkdf2 {
                sha1,
                iterations,
                salt,
                hash,
            })
        }
        "argon2" => {
            let phc = format!("${rest}");
            let parsed = argon2::PasswordHash::new(&phc).ok()?;
            let params = argon2::Params::try_from(&parsed).ok()?;
            let bounded = params.m_cost() <= MAX_ARGON2_MEMORY_KIB
                && u64::from(params.m_cost()) * u64::from(params.t_cost()) <= MAX_ARGON2_WORK_KIB
                && params.p_cost() <= MAX_ARGON2_PARALLELISM;
            argon2::Algorithm::try_from(parsed.algorithm).ok()?;
            bounded.then_some(Stored::Argon2 { phc })
        }
        "scrypt" => {
            let mut parts = rest.splitn(5, '$');
            let n: u64 = canonical(parts.next()?)?;
            let salt = parts.next().filter(|salt| !salt.is_empty())?;
            let r: u32 = canonical(parts.next()?)?;
            let p: u32 = canonical(parts.next()?)?;
            let hash = full_length(STANDARD.decode(parts.next()?).ok()?, 64)?;
            let blocks = n.checked_add(u64::from(p))?;
            let memory = 128u64.checked_mul(u64::from(r))?.checked_mul(blocks)?;
            let bounded = n.is_power_of_two()
                && n > 1
                && r > 0
                && (1..=MAX_SCRYPT_PARALLELISM).contains(&p)
                && memory <= MAX_SCRYPT_MEMORY_BYTES;
            bounded.then_some(Stored::Scrypt {
                log_n: n.trailing_zeros() as u8,
                r,
                p,
                salt,
                hash,
            })
        }
        _ => None,
    }
}

/// What checking a password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub matches: bool,
    /// The hash is not what the preferred hasher would write now (another algorithm, other
    /// parameters): re-hash when the password matched.
    pub must_update: bool,
}

/// `PASSWORD_HASHERS`, in order, with the work parameters new hashes get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashers {
    order: Vec<Algorithm>,
    bcrypt_cost: u32,
}

impl Hashers {
    /// `order` must not be empty (the settings check it).
    pub fn new(order: Vec<Algorithm>, bcrypt_cost: u32) -> Hashers {
        assert!(!order.is_empty(), "PASSWORD_HASHERS names no hasher");
        Hashers { order, bcrypt_cost }
    }

    /// The default list: portcullis's bcrypt first (as before), then bcrypt_sha256 (what a
    /// password over bcrypt's 72 bytes is re-hashed with: the same work, so its logins take as
    /// long as everyone's), then the rest of Django 5.2's defaults.
    pub fn default_order() -> Vec<Algorithm> {
        Algorithm::ALL.to_vec()
    }

    pub fn preferred(&self) -> Algorithm {
        self.order[0]
    }

    /// The hasher a new hash of `password` is made with: the first listed, or, for a password
    /// it cannot take (bcrypt's 72 bytes), the first listed that can.
    pub fn for_password(&self, password: &str) -> Option<Algorithm> {
        self.order
            .iter()
            .copied()
            .find(|algorithm| algorithm.takes(password))
    }

    /// True when `encoded` is a hash one of the listed hashers can check.
    pub fn is_usable(&self, encoded: &str) -> bool {
        self.listed(encoded).is_some()
    }

    fn listed<'a>(&self, encoded: &'a str) -> Option<Stored<'a>> {
        parse(encoded, self.bcrypt_cost.max(MAX_BCRYPT_COST))
            .filter(|stored| self.order.contains(&stored.algorithm()))
    }

    /// Django's `check_password`: whether `password` matches `encoded`, and whether a match
    /// should be re-hashed. A hash no listed hasher reads never matches.
    pub fn verify(&self, password: &str, encoded: &str) -> Verified {
        let Some(stored) = self.listed(encoded) else {
            return Verified {
                matches: false,
                must_update: false,
            };
        };
        let matches = password.len() <= MAX_CHECKED_PASSWORD_BYTES && check(password, &stored);
        let must_update = match self.for_password(password) {
            None => false,
            Some(target) => target != stored.algorithm() || !self.current(&stored),
        };
        Verified {
            matches,
            must_update,
        }
    }

    /// True when `stored` has the parameters its hasher would use for a new hash now.
    fn current(&self, stored: &Stored) -> bool {
        match stored {
            Stored::Bcrypt { hash, truncates } => {
                !truncates && bcrypt_cost(hash) == Some(self.bcrypt_cost)
            }
            Stored::BcryptSha256 { hash } => bcrypt_cost(hash) == Some(self.bcrypt_cost),
            Stored::Pbkdf2 { iterations, .. } => iterations.get() == PBKDF2_ITERATIONS,
            Stored::Argon2 { phc } => argon2::PasswordHash::new(phc).is_ok_and(|parsed| {
                let (t, m, p) = ARGON2_PARAMS;
                parsed.algorithm == argon2::Algorithm::Argon2id.ident()
                    && parsed.version == Some(argon2::Version::V0x13.into())
                    && argon2::Params::try_from(&parsed).is_ok_and(|params| {
                        (params.t_cost(), params.m_cost(), params.p_cost()) == (t, m, p)
                    })
            }),
            Stored::Scrypt { log_n, r, p, .. } => {
                let (n, block, parallel) = SCRYPT_PARAMS;
                (1u64 << log_n, *r, *p) == (n, block, parallel)
            }
        }
    }

    /// Django's `make_password`, for a new password: a hash by the preferred hasher. Refuses a
    /// blank password (Django makes those unusable instead) and one the preferred hasher cannot
    /// take whole (bcrypt's 72 bytes) or longer than `MAX_CHECKED_PASSWORD_BYTES`.
    pub fn make_password(&self, password: &str) -> Result<String, HasherError> {
        if password.is_empty() {
            return Err(HasherError::Blank);
        }
        let preferred = self.preferred();
        if !preferred.takes(password) {
            return Err(HasherError::TooLong(MAX_PASSWORD_BYTES));
        }
        if password.len() > MAX_CHECKED_PASSWORD_BYTES {
            return Err(HasherError::TooLong(MAX_CHECKED_PASSWORD_BYTES));
        }
        self.encode_with(preferred, password)
    }

    /// The new hash of a password that matched a hash `verify` said `must_update`: by the
    /// preferred hasher, or the first listed that takes the whole password (a Django user's
    /// 80-byte password goes on working when bcrypt is preferred).
    pub fn rehash(&self, password: &str) -> Result<String, HasherError> {
        let algorithm = self
            .for_password(password)
            .ok_or(HasherError::TooLong(MAX_PASSWORD_BYTES))?;
        self.encode_with(algorithm, password)
    }

    fn encode_with(&self, algorithm: Algorithm, password: &str) -> Result<String, HasherError> {
        let failed = |e: &dyn std::fmt::Display| HasherError::Failed(e.to_string());
        match algorithm {
            Algorithm::Bcrypt => {
                bcrypt::non_truncating_hash(password, self.bcrypt_cost).map_err(|e| failed(&e))
            }
            Algorithm::BcryptSha256 => {
                bcrypt::non_truncating_hash(sha256_hex(password), self.bcrypt_cost)
                    .map(|hash| format!("bcrypt_sha256${hash}"))
                    .map_err(|e| failed(&e))
            }
            Algorithm::Pbkdf2Sha256 | Algorithm::Pbkdf2Sha1 => {
                let sha1 = algorithm == Algorithm::Pbkdf2Sha1;
                let salt = django_salt()?;
                let iterations = NonZeroU32::new(PBKDF2_ITERATIONS).expect("non-zero");
                let hash = pbkdf2(sha1, iterations, &salt, password);
                Ok(format!(
                    "{}${}${salt}${}",
                    algorithm.name(),
                    PBKDF2_ITERATIONS,
                    STANDARD.encode(hash)
                ))
            }
            Algorithm::Argon2 => {
                use argon2::PasswordHasher as _;
                let (t, m, p) = ARGON2_PARAMS;
                let params = argon2::Params::new(m, t, p, Some(32)).map_err(|e| failed(&e))?;
                let argon = argon2::Argon2::new(
                    argon2::Algorithm::Argon2id,
                    argon2::Version::V0x13,
                    params,
                );
                let salt = django_salt()?;
                let salt = argon2::password_hash::SaltString::from_b64(
                    &STANDARD_NO_PAD.encode(salt.as_bytes()),
                )
                .map_err(|e| failed(&e))?;
                let phc = argon
                    .hash_password(password.as_bytes(), &salt)
                    .map_err(|e| failed(&e))?;
                Ok(format!("argon2{phc}"))
            }
            Algorithm::Scrypt => {
                let (n, r, p) = SCRYPT_PARAMS;
                let salt = django_salt()?;
                let hash = scrypt(n.trailing_zeros() as u8, r, p, &salt, password)
                    .ok_or_else(|| HasherError::Failed("scrypt parameters".into()))?;
                Ok(format!(
                    "scrypt${n}${salt}${r}${p}${}",
                    STANDARD.encode(hash)
                ))
            }
        }
    }
}

/// Whether `password` matches; every comparison of derived bytes is constant-time.
fn check(password: &str, stored: &Stored) -> bool {
    use subtle::ConstantTimeEq;
    match stored {
        Stored::Bcrypt { hash, truncates } => {
            if *truncates {
                bcrypt::verify(password, hash).unwrap_or(false)
            } else if password.len() > MAX_PASSWORD_BYTES {
                // Spends the time of a check, and never matches on the first 72 bytes.
                let _ = bcrypt::verify(&password.as_bytes()[..MAX_PASSWORD_BYTES], hash);
                false
            } else {
                bcrypt::non_truncating_verify(password, hash).unwrap_or(false)
            }
        }
        Stored::BcryptSha256 { hash } => {
            bcrypt::non_truncating_verify(sha256_hex(password), hash).unwrap_or(false)
        }
        Stored::Pbkdf2 {
            sha1,
            iterations,
            salt,
            hash,
        } => {
            let algorithm = if *sha1 {
                aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA1
            } else {
                aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256
            };
            aws_lc_rs::pbkdf2::verify(
                algorithm,
                *iterations,
                salt.as_bytes(),
                password.as_bytes(),
                hash,
            )
            .is_ok()
        }
        Stored::Argon2 { phc } => argon2_matches(password, phc),
        Stored::Scrypt {
            log_n,
            r,
            p,
            salt,
            hash,
        } => scrypt(*log_n, *r, *p, salt, password)
            .is_some_and(|derived| bool::from(derived.ct_eq(hash))),
    }
}

/// The argon2 check done by hand: the crate reads a hash without `v=` as its own default, 0x13,
/// where argon2-cffi (so Django) reads 0x10, and would never match such a hash.
fn argon2_matches(password: &str, phc: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Ok(parsed) = argon2::PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from) {
        None => argon2::Version::V0x10,
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let (Ok(algorithm), Ok(params)) = (
        argon2::Algorithm::try_from(parsed.algorithm),
        argon2::Params::try_from(&parsed),
    ) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut derived = vec![0u8; expected.len()];
    argon2::Argon2::new(algorithm, version, params)
        .hash_password_into(password.as_bytes(), salt, &mut derived)
        .is_ok_and(|()| bool::from(derived.ct_eq(expected.as_bytes())))
}

fn pbkdf2(sha1: bool, iterations: NonZeroU32, salt: &str, password: &str) -> Vec<u8> {
    let (algorithm, length) = if sha1 {
        (aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA1, 20)
    } else {
        (aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256, 32)
    };
    let mut out = vec![0; length];
    aws_lc_rs::pbkdf2::derive(
        algorithm,
        iterations,
        salt.as_bytes(),
        password.as_bytes(),
        &mut out,
    );
    out
}

/// Django's scrypt: 64 bytes derived.
fn scrypt(log_n: u8, r: u32, p: u32, salt: &str, password: &str) -> Option<Vec<u8>> {
    let params = scrypt::Params::new(log_n, r, p, 64).ok()?;
    let mut out = vec![0; 64];
    scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut out).ok()?;
    Some(out)
}

/// bcrypt_sha256's input: the SHA-256 of the password as 64 hex digits (under bcrypt's 72).
fn sha256_hex(password: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(password.as_bytes()))
}

/// Django's `BasePasswordHasher.salt()`: 22 characters of `[A-Za-z0-9]` (128 bits).
fn django_salt() -> Result<String, HasherError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut salt = String::with_capacity(22);
    while salt.len() < 22 {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| HasherError::Failed(e.to_string()))?;
        // 248 = 4 × 62: bytes past it are dropped, so every character is equally likely.
        salt.extend(
            bytes
                .iter()
                .filter(|byte| **byte < 248)
                .map(|byte| ALPHABET[usize::from(*byte % 62)] as char)
                .take(22 - salt.len()),
        );
    }
    Ok(salt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Hashers {
        Hashers::new(Hashers::default_order(), 4)
    }

    #[test]
    fn names_and_django_class_paths_parse() {
        assert_eq!(
            "django.contrib.auth.hashers.PBKDF2PasswordHasher".parse(),
            Ok(Algorithm::Pbkdf2Sha256)
        );
        assert_eq!("argon2".parse(), Ok(Algorithm::Argon2));
        assert!("md5".parse::<Algorithm>().is_err());
    }

    #[test]
    fn every_hasher_round_trips_and_only_the_preferred_is_current() {
        for algorithm in Algorithm::ALL {
            let hashers = Hashers::new(vec![algorithm], 4);
            let encoded = hashers.make_password("s3cret pässword").unwrap();
            assert!(encoded.starts_with(algorithm.name()) || algorithm == Algorithm::Bcrypt);
            let verified = all().verify("s3cret pässword", &encoded);
            assert!(verified.matches, "{encoded}");
            assert_eq!(verified.must_update, algorithm != Algorithm::Bcrypt);
            assert!(!all().verify("s3cret passw0rd", &encoded).matches);
            assert!(!hashers.verify("s3cret pässword", &encoded).must_update);
        }
    }

    #[test]
    fn a_hasher_not_listed_never_verifies() {
        let only_bcrypt = Hashers::new(vec![Algorithm::Bcrypt], 4);
        let pbkdf2 = Hashers::new(vec![Algorithm::Pbkdf2Sha1], 4)
            .make_password("pw")
            .unwrap();
        assert!(!only_bcrypt.is_usable(&pbkdf2));
        assert!(!only_bcrypt.verify("pw", &pbkdf2).matches);
    }

    #[test]
    fn a_long_password_is_rehashed_with_a_hasher_that_takes_it() {
        let long = "ü".repeat(50);
        let hashers = all();
        assert_eq!(hashers.for_password(&long), Some(Algorithm::BcryptSha256));
        let only_bcrypt = Hashers::new(vec![Algorithm::Bcrypt], 4);
        assert_eq!(only_bcrypt.rehash(&long), Err(HasherError::TooLong(71)));
        // New passwords are the preferred hasher's: bcrypt refuses it.
        assert_eq!(hashers.make_password(&long), Err(HasherError::TooLong(71)));
        let stored = Hashers::new(vec![Algorithm::Pbkdf2Sha1], 4)
            .make_password(&long)
            .unwrap();
        let verified = hashers.verify(&long, &stored);
        assert!(verified.matches && verified.must_update);
        let rehashed = hashers.rehash(&long).unwrap();
        assert!(rehashed.starts_with("bcrypt_sha256$$2b$04$"), "{rehashed}");
        assert_eq!(
            hashers.verify(&long, &rehashed),
            Verified {
                matches: true,
                must_update: false
            }
        );
        // bcrypt alone cannot take it: the match stands and nothing is re-hashed.
        let verified =
            Hashers::new(vec![Algorithm::Bcrypt, Algorithm::Pbkdf2Sha1], 4).verify(&long, &stored);
        assert!(verified.matches && !verified.must_update);
    }

    /// Every hasher's hash of two passwords, made by Django 5.2 itself
    /// (tests/fixtures/make_django_hashes.py), so a mistake in reading Django's formats cannot
    /// hide behind our own encoder.
    #[test]
    fn hashes_made_by_django_verify() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/django_hashes.json")).unwrap();
        let hashes = fixture["hashes"].as_array().unwrap();
        assert_eq!(hashes.len(), 11);
        for hash in hashes {
            let password = fixture["passwords"][hash["password"].as_str().unwrap()]
                .as_str()
                .unwrap();
            let encoded = hash["encoded"].as_str().unwrap();
            let verified = all().verify(password, encoded);
            assert!(verified.matches, "{encoded}");
            assert!(verified.must_update, "{encoded}");
            assert!(!all().verify(&format!("{password}x"), encoded).matches);
        }
    }

    #[test]
    fn work_parameters_beyond_the_bounds_are_unusable() {
        let hashers = all();
        let zeros = |bytes: usize| STANDARD.encode(vec![0u8; bytes]);
        let (h20, h32, h64) = (zeros(20), zeros(32), zeros(64));
        // A real bcrypt hash, its cost raised without the work done.
        let bcrypt_at = |cost: &str| bcrypt::hash("pw", 4).unwrap().replace("$04$", cost);
        for encoded in [
            // Work beyond the bounds (the attack pass's inputs among them).
            bcrypt_at("$31$"),
            format!("bcrypt_sha256${}", bcrypt_at("$15$")),
            format!("pbkdf2_sha256$4000000000$salt${h32}"),
            format!("pbkdf2_sha256$3000001$salt${h32}"),
            format!("scrypt$1099511627776$salt$8$1${h64}"),
            format!("scrypt$2$salt$1$16777216${h64}"),
            format!("scrypt$1048576$salt$8$4${h64}"),
            "argon2$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            "argon2$argon2id$v=19$m=102400,t=9,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            "argon2$argon2id$v=19$m=1024,t=1,p=64$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            // What Django would not verify either: short hashes (a 1-byte hash matches one
            // password in 256), numbers not as `%d` writes them, empty salts, degenerate work.
            "pbkdf2_sha256$1000$salt$qA==".into(),
            format!("pbkdf2_sha256$1000$salt${h20}"),
            format!("pbkdf2_sha1$1000$salt${h32}"),
            format!("pbkdf2_sha256$+1000$salt${h32}"),
            format!("pbkdf2_sha256$01000$salt${h32}"),
            format!("pbkdf2_sha256$0$salt${h32}"),
            format!("pbkdf2_sha256$1000$${h32}"),
            format!("scrypt$01024$salt$8$1${h64}"),
            format!("scrypt$1024$$8$1${h64}"),
            format!("scrypt$1000$salt$8$1${h64}"),
            format!("scrypt$1024$salt$8$0${h64}"),
            format!("scrypt$1024$salt$8$1${h32}"),
            "bcrypt_sha256$nope".into(),
            "pbkdf2_sha256$1000$salt".into(),
            "md5$salt$hash".into(),
            "!unusable".into(),
            String::new(),
        ] {
            assert!(!hashers.is_usable(&encoded), "{encoded}");
            assert!(!hashers.verify("pw", &encoded).matches);
        }
        // At the bounds, still usable; bcrypt's bound follows BCRYPT_COST when it is higher.
        assert!(hashers.is_usable(&format!("pbkdf2_sha256$3000000$salt${h32}")));
        assert!(hashers.is_usable(&format!("scrypt$32768$salt$8$16${h64}")));
        assert!(hashers.is_usable(&bcrypt_at("$14$")));
        let costly = bcrypt_at("$16$");
        assert!(!hashers.is_usable(&costly));
        assert!(Hashers::new(Hashers::default_order(), 16).is_usable(&costly));
    }

    /// argon2-cffi (so Django) reads a hash without `v=` as version 0x10; made by argon2-cffi
    /// 25.1 and checked True by Django 5.2's `check_password("secret", …)`.
    #[test]
    fn an_argon2_hash_without_a_version_is_version_0x10() {
        let encoded =
            "argon2$argon2i$m=8,t=1,p=1$c29tZXNhbHQ$VG0GWfP3rPhG9G4IQ8gioSNz2f+4qdh//PuRrYjlbGc";
        let verified = all().verify("secret", encoded);
        assert!(verified.matches && verified.must_update);
        assert!(!all().verify("secret2", encoded).matches);
        // Django's parameters but version 0x10: not what Django writes now, so re-hashed.
        let only_argon2 = Hashers::new(vec![Algorithm::Argon2], 4);
        let current = only_argon2.make_password("pw").unwrap();
        assert!(!only_argon2.verify("pw", &current).must_update);
        let old_version = current.replace("$v=19$", "$v=16$");
        assert!(only_argon2.verify("pw", &old_version).must_update);
    }

    #[test]
    fn huge_passwords_never_match() {
        let huge = "x".repeat(MAX_CHECKED_PASSWORD_BYTES + 1);
        let stored = Hashers::new(vec![Algorithm::Pbkdf2Sha1], 4)
            .make_password(&huge[..MAX_CHECKED_PASSWORD_BYTES])
            .unwrap();
        assert!(!all().verify(&huge, &stored).matches);
        let pbkdf2 = Hashers::new(vec![Algorithm::Pbkdf2Sha1], 4);
        assert_eq!(pbkdf2.make_password(&huge), Err(HasherError::TooLong(4096)));
    }

    #[test]
    fn salts_are_djangos_shape() {
        let salt = django_salt().unwrap();
        assert_eq!(salt.len(), 22);
        assert!(salt.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(salt, django_salt().unwrap());
    }
}
