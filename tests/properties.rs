//! Property tests for every parser that sees client bytes, and for the settings parsers.
//!
//! Each section feeds one parser arbitrary input and checks that it never panics (an `Err`
//! is fine; a panic would be a 500, or a dead worker), and, where the format has one, a
//! round trip: what a well-behaved client encodes, the parser gives back unchanged.
//!
//! - the `Authorization` header: splitting, Basic credentials (UTF-8 and Latin-1), Bearer;
//! - the JWT backend and `Token::parse`: arbitrary strings, arbitrary claims, claim round trip,
//!   any single changed character refused;
//! - the request body parsers: JSON, form-urlencoded, multipart;
//! - `Accept` negotiation, and the negotiated JSON renderer;
//! - cookies, the CSRF token and the Origin/Referer checks;
//! - the client address behind trusted proxies (`X-Forwarded-For`);
//! - the settings: rates, permission expressions (deep nesting included), the whole `Config`.
//!
//! Case count: each block runs `config(n)` cases, 256 at most, so the file stays a few seconds
//! in a debug build; `PROPTEST_CASES=10000 cargo test --test properties` runs more (the
//! variable, when set, replaces every block's count). Failures are not persisted to files: the
//! report prints the shrunk input, which belongs in a unit test next to the parser.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use actix_web::http::header::{self, HeaderValue};
use actix_web::test::TestRequest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use ipnet::IpNet;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Value, json};

use portcullis::config::Config;
use portcullis::jwt::tokens::{Lifetimes, Token, TokenType};
use portcullis::jwt::{JwtAlgorithm, TokenBackend};
use portcullis::rest::authentication::{parse_basic_credentials, split_parts};
use portcullis::rest::client::client_ip;
use portcullis::rest::csrf::{self, TokenSource};
use portcullis::rest::exceptions::ApiError;
use portcullis::rest::negotiation::negotiate;
use portcullis::rest::parsers;
use portcullis::rest::permissions::expr::{self, PermissionClass, PermissionExpr};
use portcullis::rest::permissions::parse_permission_classes;
use portcullis::rest::renderers::{Renderer, to_json};
use portcullis::rest::throttling::Rate;

/// `cases` cases, unless `PROPTEST_CASES` is set (then it decides, as proptest's default does).
fn config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_some() {
        default
    } else {
        ProptestConfig { cases, ..default }
    }
}

// ----------------------------------------------------------------------------------------------
// Shared strategies

/// Bytes a `HeaderValue` accepts: visible ASCII, space, tab and obs-text (0x80..=0xFF).
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff]
}

fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(header_byte(), 0..max)
}

/// A JSON value of any kind, nested a few levels. Floats are short decimals: serde_json
/// without `float_roundtrip` may read a long decimal back one ulp off, which is not ours.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1_000_000i32..1_000_000, 0u32..4)
            .prop_map(|(n, scale)| Value::from(f64::from(n) / f64::from(10u32.pow(scale)))),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((any::<String>(), json_value()), 0..8)
        .prop_map(|pairs| pairs.into_iter().collect())
}

/// Parsers are async (multipart reads a stream); one small runtime per test thread.
fn parse_body(content_type: &str, body: Vec<u8>) -> Result<Value, ApiError> {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(parsers::parse(content_type, Bytes::from(body))))
}

// ----------------------------------------------------------------------------------------------
// The Authorization header: Basic and Bearer

/// The bytes as DRF reads credentials: UTF-8 when they are, Latin-1 (byte = code point) if not.
fn drf_text(bytes: &[u8], whole_is_utf8: bool) -> String {
    if whole_is_utf8 {
        String::from_utf8(bytes.to_vec()).expect("part of a UTF-8 string split at ':'")
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn split_parts_never_panics_and_keeps_every_non_space_byte(
        header in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let parts = split_parts(&header);
        for part in &parts {
            prop_assert!(!part.is_empty());
            prop_assert!(!part.iter().any(u8::is_ascii_whitespace));
        }
        let kept: Vec<u8> = header.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        prop_assert_eq!(parts.concat(), kept);
    }

    #[test]
    fn basic_credentials_never_panic_on_arbitrary_headers(
        header in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..96),
            // "Basic " and then bytes that are often base64, sometimes not.
            "[A-Za-z0-9+/=: \t-]{0,64}".prop_map(|s| format!("Basic {s}").into_bytes()),
        ],
    ) {
        let parts = split_parts(&header);
        let _ = parse_basic_credentials(&parts);
    }

    #[test]
    fn basic_credentials_round_trip_utf8(
        username in "[^:]*",
        password in any::<String>(),
        separator in "[ \t]{1,3}",
    ) {
        let encoded = STANDARD.encode(format!("{username}:{password}"));
        let header = format!("Basic{separator}{encoded}");
        let parts = split_parts(header.as_bytes());
        prop_assert_eq!(parse_basic_credentials(&parts).ok(), Some((username, password)));
    }

    #[test]
    fn basic_credentials_round_trip_latin1(
        username in prop::collection::vec(any::<u8>().prop_filter("no ':'", |b| *b != b':'), 0..24),
        password in prop::collection::vec(any::<u8>(), 0..24),
    ) {
        let raw = [&username[..], b":", &password[..]].concat();
        let is_utf8 = std::str::from_utf8(&raw).is_ok();
        let header = format!("Basic {}", STANDARD.encode(&raw));
        let parts = split_parts(header.as_bytes());
        let expected = (drf_text(&username, is_utf8), drf_text(&password, is_utf8));
        prop_assert_eq!(parse_basic_credentials(&parts).ok(), Some(expected));
    }

    #[test]
    fn basic_credentials_without_colon_or_with_spaces_are_refused(
        text in "[^:]*",
        extra in "[!-~]{1,8}",
    ) {
        let encoded = STANDARD.encode(&text);
        prop_assert!(parse_basic_credentials(&[b"Basic", encoded.as_bytes()]).is_err());
        let with_space = [b"Basic".as_slice(), encoded.as_bytes(), extra.as_bytes()];
        prop_assert!(parse_basic_credentials(&with_space).is_err());
    }

    #[test]
    fn bearer_header_round_trips_a_valid_token(
        user_id in any::<i32>(),
        before in "[ \t]{0,3}",
        between in "[ \t]{1,3}",
        after in "[ \t]{0,3}",
    ) {
        let backend = backend();
        let now = 1_700_000_000;
        let raw = Token::refresh_for_user(user_id, LIFETIMES, now).encode(&backend).unwrap();
        let header = format!("{before}Bearer{between}{raw}{after}");
        let parts = split_parts(header.as_bytes());
        prop_assert_eq!(parts.len(), 2);
        prop_assert_eq!(parts[0], b"Bearer");
        // What JWTAuthentication does with the second part.
        let token_text = std::str::from_utf8(parts[1]).unwrap_or("");
        let token = Token::parse(token_text, &backend, Some(TokenType::Refresh), now as f64);
        prop_assert_eq!(token.ok().and_then(|t| t.user_id()), Some(user_id));
    }

    #[test]
    fn bearer_token_part_never_panics_on_arbitrary_headers(
        header in prop::collection::vec(any::<u8>(), 0..160),
    ) {
        let backend = backend();
        for part in split_parts(&header) {
            let text = std::str::from_utf8(part).unwrap_or("");
            let _ = Token::parse(text, &backend, Some(TokenType::Access), 1.7e9);
        }
    }
}

// ----------------------------------------------------------------------------------------------
// The JWT backend and the claim checks

const LIFETIMES: Lifetimes = Lifetimes {
    access: 300,
    refresh: 86_400,
};

fn backend() -> TokenBackend {
    TokenBackend::new(&[7u8; 32], JwtAlgorithm::HS256, 0)
}

fn algorithm() -> impl Strategy<Value = JwtAlgorithm> {
    prop_oneof![
        Just(JwtAlgorithm::HS256),
        Just(JwtAlgorithm::HS384),
        Just(JwtAlgorithm::HS512),
    ]
}

fn token_type() -> impl Strategy<Value = Option<TokenType>> {
    prop_oneof![
        Just(None),
        Just(Some(TokenType::Access)),
        Just(Some(TokenType::Refresh)),
    ]
}

/// A time claim's value: numbers of every kind, numeric strings, and nonsense.
fn time_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(|n| Value::from(format!(" {n} "))),
        json_value(),
    ]
}

/// Claims whose registered names (`exp`, `nbf`, `iat`, `jti`, `sub`, `token_type`,
/// `user_id`) carry arbitrary values, among arbitrary other claims.
fn hostile_claims() -> impl Strategy<Value = Map<String, Value>> {
    let registered = prop::sample::select(vec![
        "exp",
        "nbf",
        "iat",
        "jti",
        "sub",
        "token_type",
        "user_id",
    ]);
    (
        json_object(),
        prop::collection::vec((registered, time_value()), 0..7),
    )
        .prop_map(|(mut claims, registered)| {
            for (name, value) in registered {
                claims.insert(name.to_string(), value);
            }
            claims
        })
}

/// A compact JWS shape (three base64url segments) around arbitrary header and payload bytes.
fn jws_shaped() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        Just(br#"{"alg":"HS256","typ":"JWT"}"#.to_vec()),
        Just(br#"{"alg":"none"}"#.to_vec()),
        Just(br#"{"alg":"HS256","crit":["b64"],"b64":false}"#.to_vec()),
    ];
    (segment.clone(), segment, "[A-Za-z0-9_=+/-]{0,90}").prop_map(|(header, payload, sig)| {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.{}.{sig}", b64.encode(header), b64.encode(payload))
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn jwt_decode_never_panics_on_arbitrary_strings(
        raw in prop_oneof![any::<String>(), "[A-Za-z0-9_.=-]{0,200}", jws_shaped()],
        algorithm in algorithm(),
        expected in token_type(),
        now in any::<f64>(),
        leeway in any::<u64>(),
    ) {
        let backend = TokenBackend::new(&[7u8; 32], algorithm, leeway);
        let _ = backend.decode(&raw, now);
        let _ = Token::parse(&raw, &backend, expected, now);
    }

    #[test]
    fn claim_checks_never_panic_on_signed_arbitrary_claims(
        claims in hostile_claims(),
        expected in token_type(),
        now in prop_oneof![any::<f64>(), 0.0..4e9f64],
        leeway in prop_oneof![Just(0u64), any::<u64>()],
        created_at in any::<i64>(),
    ) {
        let backend = TokenBackend::new(&[7u8; 32], JwtAlgorithm::HS256, leeway);
        let raw = backend.encode(&claims).unwrap();
        let _ = backend.decode(&raw, now);
        // Everything the views read from a token that passed.
        if let Ok(token) = Token::parse(&raw, &backend, expected, now) {
            let _ = (token.jti(), token.exp(), token.user_id(), token.names_a_user());
            let _ = token.record(created_at);
        }
    }

    #[test]
    fn jwt_round_trip_gives_back_the_claims_in_order(
        other in json_object(),
        exp_in in 1i64..1_000_000_000,
        iat_ago in prop::option::of(0i64..1_000_000_000),
        jti in prop::option::of(any::<String>()),
        sub in prop::option::of(any::<String>()),
        algorithm in algorithm(),
        secret in prop::collection::vec(any::<u8>(), 32..96),
    ) {
        let now = 1_700_000_000i64;
        let mut claims: Map<String, Value> = other
            .into_iter()
            .filter(|(name, _)| !["exp", "nbf", "iat", "jti", "sub"].contains(&name.as_str()))
            .collect();
        claims.insert("exp".into(), json!(now + exp_in));
        if let Some(ago) = iat_ago {
            claims.insert("iat".into(), json!(now - ago));
            claims.insert("nbf".into(), json!(now - ago));
        }
        if let Some(jti) = jti {
            claims.insert("jti".into(), json!(jti));
        }
        if let Some(sub) = sub {
            claims.insert("sub".into(), json!(sub));
        }
        let backend = TokenBackend::new(&secret, algorithm, 0);
        let decoded = backend.decode(&backend.encode(&claims).unwrap(), now as f64);
        prop_assert!(decoded.is_ok(), "{:?}", decoded);
        let decoded = decoded.unwrap();
        prop_assert_eq!(&decoded, &claims);
        prop_assert!(decoded.keys().eq(claims.keys()), "claim order changed");
    }

    #[test]
    fn changing_one_character_of_the_signature_is_refused(
        claims in json_object(),
        algorithm in algorithm(),
        position in any::<Index>(),
        replacement in prop_oneof![
            prop::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()
            )
            .prop_map(char::from),
            any::<char>(),
        ],
    ) {
        let mut claims = claims;
        claims.insert("exp".into(), json!(4_000_000_000i64));
        let backend = TokenBackend::new(&[7u8; 32], algorithm, 0);
        let token = backend.encode(&claims).unwrap();
        let signature_start = token.rfind('.').unwrap() + 1;
        let signature: Vec<char> = token[signature_start..].chars().collect();
        let i = position.index(signature.len());
        prop_assume!(signature[i] != replacement);
        let mut changed = signature;
        changed[i] = replacement;
        let changed: String = changed.into_iter().collect();
        let tampered = format!("{}{changed}", &token[..signature_start]);
        prop_assert!(backend.decode(&tampered, 1.7e9).is_err(), "{} accepted", tampered);
    }

    #[test]
    fn changing_one_character_anywhere_in_a_token_is_refused(
        user_id in any::<i32>(),
        position in any::<Index>(),
        replacement in prop::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=".to_vec()
        ),
    ) {
        let backend = backend();
        let now = 1_700_000_000;
        let token = Token::refresh_for_user(user_id, LIFETIMES, now).encode(&backend).unwrap();
        let mut bytes = token.into_bytes();
        let i = position.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert!(Token::parse(&tampered, &backend, None, now as f64).is_err());
    }
}

// ----------------------------------------------------------------------------------------------
// Request bodies: JSON, form-urlencoded, multipart

/// `application/x-www-form-urlencoded` as a browser writes it.
fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"-._*".contains(&b) => out.push(char::from(b)),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn form_encode_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02x}")).collect()
}

/// Pairs with distinct names (a repeated name keeps its last value, checked separately).
fn form_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((any::<String>(), any::<String>()), 0..8).prop_map(|pairs| {
        let mut seen = HashSet::new();
        pairs
            .into_iter()
            .filter(|(name, _)| seen.insert(name.clone()))
            .collect()
    })
}

fn content_type() -> impl Strategy<Value = String> {
    let media = prop::sample::select(vec![
        "application/json",
        "APPLICATION/JSON",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "Multipart/Form-Data",
        "text/plain",
        "",
    ]);
    prop_oneof![
        any::<String>(),
        (media, "(;[ -~]{0,40}){0,3}").prop_map(|(m, params)| format!("{m}{params}")),
        "[ -~]{0,30}".prop_map(|b| format!("multipart/form-data; boundary={b}")),
        "[ -~]{0,30}".prop_map(|b| format!("multipart/form-data; boundary=\"{b}\"")),
    ]
}

/// A multipart body: text fields (name, value) and file fields (name, file name, contents).
struct Multipart {
    boundary: String,
    body: Vec<u8>,
    expected: Map<String, Value>,
}

fn multipart() -> impl Strategy<Value = Multipart> {
    let text_field = ("[A-Za-z0-9_-]{1,12}", any::<String>()).prop_map(|(n, v)| (n, v, None));
    let file_field = (
        "[A-Za-z0-9_-]{1,12}",
        prop::collection::vec(any::<u8>(), 0..64),
        "[A-Za-z0-9_.-]{1,12}",
    )
        .prop_map(|(n, v, f)| (n, String::from_utf8_lossy(&v).into_owned(), Some(f)));
    (
        "[A-Za-z0-9'()+_,./:=?-]{24,60}",
        prop::collection::vec(prop_oneof![3 => text_field, 1 => file_field], 0..6),
    )
        .prop_map(|(boundary, fields)| {
            let mut body = Vec::new();
            let mut expected = Map::new();
            for (name, value, file_name) in fields {
                body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                let disposition = match &file_name {
                    None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n"),
                    Some(f) => format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                         Content-Type: application/octet-stream\r\n"
                    ),
                };
                body.extend_from_slice(disposition.as_bytes());
                body.extend_from_slice(b"\r\n");
                body.extend_from_slice(value.as_bytes());
                body.extend_from_slice(b"\r\n");
                if file_name.is_none() {
                    expected.insert(name, Value::String(value));
                }
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            Multipart {
                boundary,
                body,
                expected,
            }
        })
}

impl std::fmt::Debug for Multipart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "boundary {:?}, body {:?}",
            self.boundary,
            String::from_utf8_lossy(&self.body)
        )
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn body_parsers_never_panic(
        content_type in content_type(),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            any::<String>().prop_map(String::into_bytes),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        ],
    ) {
        let _ = parse_body(&content_type, body);
    }

    #[test]
    fn json_objects_round_trip(object in json_object(), params in "(; ?charset=utf-8)?") {
        let body = serde_json::to_vec(&object).unwrap();
        let parsed = parse_body(&format!("application/json{params}"), body);
        prop_assert_eq!(parsed.ok(), Some(Value::Object(object)));
    }

    #[test]
    fn non_object_json_values_parse_as_themselves(value in json_value()) {
        let body = serde_json::to_vec(&value).unwrap();
        prop_assert_eq!(parse_body("application/json", body).ok(), Some(value));
    }

    #[test]
    fn form_bodies_round_trip(pairs in form_pairs()) {
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let expected: Map<String, Value> =
            pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        let parsed = parse_body("application/x-www-form-urlencoded", body.into_bytes());
        prop_assert_eq!(parsed.ok(), Some(Value::Object(expected)));
    }

    #[test]
    fn form_repeated_names_keep_the_last_value(
        name in any::<String>(),
        values in prop::collection::vec(any::<String>(), 1..5),
    ) {
        let body = values
            .iter()
            .map(|v| format!("{}={}", form_encode(&name), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let parsed = parse_body("application/x-www-form-urlencoded", body.into_bytes());
        let expected = json!({ name: values.last().unwrap() });
        prop_assert_eq!(parsed.ok(), Some(expected));
    }

    #[test]
    fn form_values_of_any_bytes_decode_lossily(
        value in prop::collection::vec(any::<u8>(), 0..48),
    ) {
        let body = format!("field={}", form_encode_bytes(&value));
        let parsed = parse_body("application/x-www-form-urlencoded", body.into_bytes());
        let expected = json!({ "field": String::from_utf8_lossy(&value) });
        prop_assert_eq!(parsed.ok(), Some(expected));
    }

    #[test]
    fn multipart_never_panics_on_arbitrary_bytes(
        boundary in "[A-Za-z0-9'()+_,./:=? -]{1,70}",
        body in prop::collection::vec(any::<u8>(), 1..256),
    ) {
        let _ = parse_body(&format!("multipart/form-data; boundary={boundary}"), body);
    }

    #[test]
    fn multipart_text_fields_round_trip_and_files_are_left_out(form in multipart()) {
        let content_type = format!("multipart/form-data; boundary=\"{}\"", form.boundary);
        let parsed = parse_body(&content_type, form.body);
        prop_assert_eq!(parsed.ok(), Some(Value::Object(form.expected)));
    }

    #[test]
    fn multipart_never_panics_on_damaged_bodies(
        form in multipart(),
        cut in any::<Index>(),
        flips in prop::collection::vec((any::<Index>(), any::<u8>()), 0..4),
    ) {
        let content_type = format!("multipart/form-data; boundary=\"{}\"", form.boundary);
        let mut body = form.body;
        for (at, byte) in flips {
            let i = at.index(body.len());
            body[i] = byte;
        }
        body.truncate(cut.index(body.len() + 1));
        let _ = parse_body(&content_type, body);
    }
}

// ----------------------------------------------------------------------------------------------
// Accept negotiation

fn accept_header() -> impl Strategy<Value = String> {
    let media = prop_oneof![
        prop::sample::select(vec![
            "application/json",
            "APPLICATION/JSON",
            "text/html",
            "text/*",
            "application/*",
            "*/*",
            "*",
            "image/png",
            "",
        ])
        .prop_map(String::from),
        "[!-~]{0,16}",
    ];
    let param = prop_oneof![
        prop::sample::select(vec![
            "q=0",
            "q=0.0",
            "q=0.5",
            "q=1",
            "q=NaN",
            "q=-1",
            "q=inf",
            "indent=4",
            "indent=0",
            "indent=-1",
            "indent=18446744073709551615",
            "indent=99999999999999999999999",
            "charset=utf-8",
            "=",
            "",
        ])
        .prop_map(String::from),
        "[ -~]{0,12}",
    ];
    let range = (media, prop::collection::vec(param, 0..3)).prop_map(|(m, params)| {
        std::iter::once(m)
            .chain(params)
            .collect::<Vec<_>>()
            .join(" ; ")
    });
    prop::collection::vec(range, 0..5).prop_map(|ranges| ranges.join(", "))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn negotiation_never_panics_on_arbitrary_bytes(
        accept in prop::option::of(prop::collection::vec(any::<u8>(), 0..128)),
    ) {
        let _ = negotiate(accept.as_deref());
    }

    #[test]
    fn negotiated_renderer_output_parses_back(accept in accept_header(), data in json_value()) {
        if let Ok(Renderer::Json { indent }) = negotiate(Some(accept.as_bytes())) {
            let rendered = to_json(&data, indent);
            let reread: Value = serde_json::from_slice(&rendered).unwrap();
            prop_assert_eq!(reread, data);
        }
    }

    #[test]
    fn a_header_accepting_anything_is_never_refused(accept in accept_header()) {
        let accept = format!("{accept}, */*");
        prop_assert!(negotiate(Some(accept.as_bytes())).is_ok());
    }
}

// ----------------------------------------------------------------------------------------------
// Cookies, the CSRF token, the Origin/Referer checks

const CSRF_ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A secret of Django's shape, drawn by proptest (so shrinkable), not by `new_secret`.
fn csrf_secret() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]{32}"
}

fn cookie_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b if b.is_ascii_alphanumeric() => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn cookie_header_never_panics(
        values in prop::collection::vec(
            prop_oneof![
                header_bytes(96),
                "([ -~]{0,12}=[ -~]{0,12}; ?){0,4}".prop_map(String::into_bytes),
            ],
            1..3,
        ),
    ) {
        let mut request = TestRequest::default();
        for value in values {
            let value = HeaderValue::from_bytes(&value).expect("header bytes");
            request = request.append_header((header::COOKIE, value));
        }
        let http = request.to_http_request();
        let _ = http.cookie("sessionid");
        let _ = http.cookie(csrf::COOKIE_NAME);
        let _ = http.cookies().map(|cookies| cookies.len());
    }

    #[test]
    fn session_cookie_value_round_trips_percent_encoded(
        value in any::<String>(),
        others in "([a-z]{1,8}=[a-zA-Z0-9]{0,8}; ){0,3}",
    ) {
        let header = format!("{others}sessionid={}", cookie_encode(&value));
        let http = TestRequest::default()
            .insert_header((header::COOKIE, header))
            .to_http_request();
        let cookie = http.cookie("sessionid");
        prop_assert_eq!(cookie.map(|c| c.value().to_string()), Some(value));
    }

    #[test]
    fn masked_token_matches_its_secret(secret in csrf_secret()) {
        prop_assert!(csrf::is_valid_secret(&secret));
        let token = csrf::mask(&secret);
        prop_assert_eq!(token.len(), 64);
        prop_assert!(token.chars().all(|c| CSRF_ALPHABET.contains(c)));
        for source in [TokenSource::Post, TokenSource::Header] {
            prop_assert_eq!(csrf::check_token(Some(&secret), Some((&token, source))), Ok(()));
            prop_assert_eq!(csrf::check_token(Some(&secret), Some((&secret, source))), Ok(()));
        }
    }

    #[test]
    fn generated_secrets_are_valid_and_their_tokens_match(_round in 0u8..1) {
        let secret = csrf::new_secret();
        prop_assert!(csrf::is_valid_secret(&secret));
        let token = csrf::mask(&secret);
        let checked = csrf::check_token(Some(&secret), Some((&token, TokenSource::Post)));
        prop_assert_eq!(checked, Ok(()));
    }

    #[test]
    fn masked_token_never_matches_another_secret(a in csrf_secret(), b in csrf_secret()) {
        prop_assume!(a != b);
        let token = csrf::mask(&a);
        prop_assert!(csrf::check_token(Some(&b), Some((&token, TokenSource::Post))).is_err());
        prop_assert!(csrf::check_token(Some(&b), Some((&a, TokenSource::Header))).is_err());
    }

    #[test]
    fn arbitrary_csrf_tokens_never_panic_nor_match(
        secret in prop_oneof![csrf_secret(), any::<String>()],
        token in prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9]{32}",
            "[a-zA-Z0-9]{64}",
            "[a-zA-Z0-9é]{31,33}",
            "[a-zA-Z0-9é]{63,65}",
        ],
    ) {
        prop_assume!(token != secret);
        let _ = csrf::is_valid_secret(&secret);
        let _ = csrf::mask(&secret);
        for source in [TokenSource::Post, TokenSource::Header] {
            let checked = csrf::check_token(Some(&secret), Some((&token, source)));
            prop_assert!(checked.is_err(), "{:?} matched {:?}", token, secret);
        }
    }

    #[test]
    fn is_valid_secret_accepts_exactly_32_alphanumerics(value in any::<String>()) {
        let expected = value.len() == 32 && value.chars().all(|c| CSRF_ALPHABET.contains(c));
        prop_assert_eq!(csrf::is_valid_secret(&value), expected);
    }

    #[test]
    fn origin_checks_never_panic(
        origin in prop::option::of(prop_oneof![any::<String>(), "https?://[a-z.*:0-9]{0,20}"]),
        referer in prop::option::of(prop_oneof![any::<String>(), "https?://[a-z.*:0-9/]{0,20}"]),
        host in prop::option::of(prop_oneof![any::<String>(), "[a-z.:0-9]{0,20}"]),
        forwarded_proto in prop::option::of("[ -~]{0,8}"),
        trusted in prop::collection::vec(
            prop_oneof![any::<String>(), "https?://(\\*\\.)?[a-z.]{0,12}", Just("*.".to_string())],
            0..3,
        ),
    ) {
        let mut request = TestRequest::default().peer_addr("127.0.0.1:40000".parse().unwrap());
        for (name, value) in [
            ("origin", &origin),
            ("referer", &referer),
            ("host", &host),
            ("x-forwarded-proto", &forwarded_proto),
        ] {
            if let Some(value) = value.as_ref().and_then(|v| HeaderValue::from_str(v).ok()) {
                request = request.insert_header((name, value));
            }
        }
        let http = request.to_http_request();
        let proxies: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        let origin = csrf::RequestOrigin::of(&http, &proxies);
        let _ = csrf::check_origin(&origin, &trusted);
    }
}

// ----------------------------------------------------------------------------------------------
// The client address: X-Forwarded-For behind trusted proxies

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
        // Often inside the trusted networks below.
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| IpAddr::V4(Ipv4Addr::new(10, 0, a, b))),
    ]
}

fn trusted_nets() -> Vec<IpNet> {
    ["10.0.0.0/16", "fd00::/8"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect()
}

fn is_trusted(ip: &IpAddr) -> bool {
    trusted_nets().iter().any(|net| net.contains(ip))
}

fn untrusted_ip() -> impl Strategy<Value = IpAddr> {
    ip().prop_filter("outside the trusted networks", |ip| !is_trusted(ip))
}

fn trusted_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| IpAddr::V4(Ipv4Addr::new(10, 0, a, b))),
        any::<[u16; 7]>().prop_map(|s| {
            IpAddr::V6(Ipv6Addr::new(
                0xfd00, s[0], s[1], s[2], s[3], s[4], s[5], s[6],
            ))
        }),
    ]
}

fn forwarded_header(hops: &[IpAddr], separator: &str) -> String {
    hops.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

fn request_from(peer: IpAddr, forwarded: &[Vec<u8>]) -> actix_web::HttpRequest {
    let mut request = TestRequest::default().peer_addr(SocketAddr::new(peer, 40_000));
    for value in forwarded {
        let value = HeaderValue::from_bytes(value).expect("header bytes");
        request = request.append_header(("x-forwarded-for", value));
    }
    request.to_http_request()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn client_ip_never_panics(
        peer in prop::option::of(ip()),
        forwarded in prop::collection::vec(
            prop_oneof![
                header_bytes(96),
                prop::collection::vec(ip(), 0..5)
                    .prop_map(|hops| forwarded_header(&hops, " , ").into_bytes()),
                "[0-9a-fA-F.:, %\\[\\]]{0,60}".prop_map(String::into_bytes),
            ],
            0..3,
        ),
        nets in prop::collection::vec((ip(), 0u8..=128), 0..3),
    ) {
        let mut trusted: Vec<IpNet> = nets
            .into_iter()
            .filter_map(|(ip, prefix)| IpNet::new(ip, prefix).ok())
            .collect();
        trusted.extend(trusted_nets());
        let http = match peer {
            Some(peer) => request_from(peer, &forwarded),
            None => TestRequest::default().to_http_request(),
        };
        let client = client_ip(&http, &trusted);
        prop_assert_eq!(client.is_some(), peer.is_some());
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards(
        peer in untrusted_ip(),
        forwarded in prop::collection::vec(header_bytes(64), 0..3),
    ) {
        let http = request_from(peer, &forwarded);
        prop_assert_eq!(client_ip(&http, &trusted_nets()), Some(peer));
    }

    #[test]
    fn behind_trusted_proxies_the_last_untrusted_hop_is_the_client(
        peer in trusted_ip(),
        untrusted in prop::collection::vec(untrusted_ip(), 1..5),
        proxies in prop::collection::vec(trusted_ip(), 0..3),
        separator in prop::sample::select(vec![",", ", ", " ,", " , ", ",,"]),
    ) {
        let mut hops = untrusted.clone();
        hops.extend(proxies);
        let http = request_from(peer, &[forwarded_header(&hops, separator).into_bytes()]);
        prop_assert_eq!(client_ip(&http, &trusted_nets()), untrusted.last().copied());
    }

    #[test]
    fn repeated_forwarded_headers_read_as_one_list(
        peer in trusted_ip(),
        first in prop::collection::vec(untrusted_ip(), 1..3),
        second in prop::collection::vec(untrusted_ip(), 1..3),
    ) {
        let headers = [&first, &second].map(|hops| forwarded_header(hops, ", ").into_bytes());
        let split = request_from(peer, &headers);
        prop_assert_eq!(client_ip(&split, &trusted_nets()), second.last().copied());
    }
}

// ----------------------------------------------------------------------------------------------
// Settings: throttle rates

fn unit() -> impl Strategy<Value = (&'static str, u64)> {
    prop::sample::select(vec![
        ("s", 1),
        ("sec", 1),
        ("second", 1),
        ("m", 60),
        ("min", 60),
        ("minute", 60),
        ("h", 3600),
        ("hour", 3600),
        ("d", 86_400),
        ("day", 86_400),
    ])
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn rate_never_panics_on_arbitrary_strings(
        value in prop_oneof![any::<String>(), "[0-9 ]{0,6}/[0-9 ]{0,6}[smhdx]?[a-z]{0,5}"],
    ) {
        let _ = value.parse::<Rate>();
    }

    #[test]
    fn rate_round_trips(
        n in 1u64..1_000_000,
        multiplier in prop::option::of(1u64..100_000),
        (unit, seconds) in unit(),
    ) {
        let value = match multiplier {
            Some(m) => format!("{n}/{m}{unit}"),
            None => format!("{n}/{unit}"),
        };
        let rate = value.parse::<Rate>();
        let expected = Rate {
            num_requests: n,
            duration: (multiplier.unwrap_or(1) * seconds) as f64,
        };
        prop_assert_eq!(rate, Ok(expected));
    }

    #[test]
    fn rate_never_panics_on_huge_numbers(
        n in any::<u64>(),
        multiplier in any::<u64>(),
        (unit, _) in unit(),
    ) {
        let _ = format!("{n}/{multiplier}{unit}").parse::<Rate>();
    }
}

// ----------------------------------------------------------------------------------------------
// Settings: permission expressions

fn class() -> impl Strategy<Value = PermissionClass> {
    prop::sample::select(vec![
        PermissionClass::AllowAny,
        PermissionClass::IsAuthenticated,
        PermissionClass::IsAdminUser,
        PermissionClass::IsAuthenticatedOrReadOnly,
    ])
}

fn permission_expr() -> impl Strategy<Value = PermissionExpr> {
    class()
        .prop_map(PermissionExpr::Class)
        .prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| PermissionExpr::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| PermissionExpr::Or(Box::new(a), Box::new(b))),
                inner.prop_map(|a| PermissionExpr::Not(Box::new(a))),
            ]
        })
}

/// The expression with as few parentheses as the precedence (`!` over `&` over `|`, left
/// associative) allows, so parsing it back checks the precedence too.
fn print_expr(expr: &PermissionExpr, not: &str, context: u8) -> String {
    let (own, text) = match expr {
        PermissionExpr::Class(class) => (3, format!("{class:?}")),
        PermissionExpr::Not(a) => (3, format!("{not}{}", print_expr(a, not, 3))),
        PermissionExpr::And(a, b) => (
            2,
            format!("{} & {}", print_expr(a, not, 2), print_expr(b, not, 3)),
        ),
        PermissionExpr::Or(a, b) => (
            1,
            format!("{} | {}", print_expr(a, not, 1), print_expr(b, not, 2)),
        ),
    };
    if own < context {
        format!("({text})")
    } else {
        text
    }
}

/// Fully parenthesised: every operation in its own pair.
fn print_expr_parenthesised(expr: &PermissionExpr) -> String {
    match expr {
        PermissionExpr::Class(class) => format!("{class:?}"),
        PermissionExpr::Not(a) => format!("(~{})", print_expr_parenthesised(a)),
        PermissionExpr::And(a, b) => format!(
            "({}&{})",
            print_expr_parenthesised(a),
            print_expr_parenthesised(b)
        ),
        PermissionExpr::Or(a, b) => format!(
            "({}|{})",
            print_expr_parenthesised(a),
            print_expr_parenthesised(b)
        ),
    }
}

fn permission_tokens() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "AllowAny",
        "IsAuthenticated",
        "IsAdminUser",
        "IsAuthenticatedOrReadOnly",
        "Nope",
        "&",
        "|",
        "!",
        "~",
        "(",
        ")",
        ",",
        " ",
    ]);
    prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

/// `open` + `inner` + `close`, `depth` times: nesting well past the parser's limit.
fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn permission_setting_never_panics(
        setting in prop_oneof![any::<String>(), permission_tokens()],
    ) {
        let _ = expr::parse(&setting);
        let _ = parse_permission_classes(&setting).map(|classes| classes.len());
    }

    #[test]
    fn deep_nesting_is_an_error_or_a_value_not_a_stack_overflow(
        depth in prop_oneof![0usize..100, 100usize..20_000],
        shape in 0u8..6,
    ) {
        let setting = match shape {
            0 => nested("(", "AllowAny", ")", depth),
            1 => nested("!", "AllowAny", "", depth),
            2 => nested("~(", "IsAdminUser", ")", depth),
            3 => nested("(AllowAny & ", "AllowAny", ")", depth),
            4 => nested("(", "", "", depth), // unbalanced
            _ => nested("AllowAny | !(", "AllowAny", ")", depth),
        };
        let parsed = expr::parse(&setting);
        if depth > 200 {
            prop_assert!(parsed.is_err(), "{} levels accepted", depth);
        }
        let _ = parse_permission_classes(&setting).map(|classes| classes.len());
    }

    #[test]
    fn permission_expressions_round_trip(
        exprs in prop::collection::vec(permission_expr(), 1..4),
        not in prop::sample::select(vec!["!", "~", "! ", "~ "]),
    ) {
        let minimal = exprs
            .iter()
            .map(|e| print_expr(e, not, 0))
            .collect::<Vec<_>>()
            .join(", ");
        prop_assert_eq!(expr::parse(&minimal), Ok(exprs.clone()), "{}", minimal);
        let parenthesised = exprs
            .iter()
            .map(print_expr_parenthesised)
            .collect::<Vec<_>>()
            .join(",");
        prop_assert_eq!(expr::parse(&parenthesised), Ok(exprs), "{}", parenthesised);
    }
}

// ----------------------------------------------------------------------------------------------
// Settings: the whole Config, one variable at a time

const VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "DB_POOL_SIZE",
    "DB_CONNECT_TIMEOUT_MS",
    "DB_STATEMENT_TIMEOUT_MS",
    "SECRET_KEY",
    "THROTTLE_RATES",
    "ACCESS_TOKEN_LIFETIME",
    "REFRESH_TOKEN_LIFETIME",
    "ROTATE_REFRESH_TOKENS",
    "BLACKLIST_AFTER_ROTATION",
    "JWT_ALGORITHM",
    "JWT_LEEWAY",
    "AUTH_HEADER_TYPES",
    "AUTHENTICATION_CLASSES",
    "DEFAULT_PERMISSION_CLASSES",
    "THROTTLE_CLASSES",
    "MAX_BODY_SIZE",
    "CLIENT_BODY_TIMEOUT_MS",
    "TRUSTED_PROXIES",
    "LOGIN_FAILURE_RATES",
    "BCRYPT_COST",
    "HASHER_THREADS",
    "HASHER_QUEUE",
    "USER_CACHE_TTL_MS",
    "SESSION_COOKIE_AGE",
    "SESSION_COOKIE_SECURE",
    "CSRF_TRUSTED_ORIGINS",
    "TEMPLATES_DIR",
    "STATIC_DIR",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "REDIS_TIMEOUT_MS",
    "THROTTLE_FAILURE_MODE",
    "BIND",
    "WORKERS",
    "KEEP_ALIVE",
    "CLIENT_REQUEST_TIMEOUT_MS",
    "SHUTDOWN_TIMEOUT",
    "RUST_LOG",
    "BENCH_ENDPOINTS",
];

/// Values of every shape a variable takes, and nonsense.
fn setting_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[0-9]{19,30}",
        prop::sample::select(vec![
            "", " ", "0", "1", "true", "no", "HS512", "open", "closed"
        ])
        .prop_map(String::from),
        // THROTTLE_RATES, LOGIN_FAILURE_RATES
        "(((anon|user|login|pair|ip|[a-z]{1,6})=[0-9]{1,6}/[0-9]{0,22}[smhd][a-z]{0,3}|[ -~]{0,8}), ?)\
         {0,4}",
        "([a-z]{1,8}, ?){0,4}",
        permission_tokens(),
        prop::collection::vec(
            prop_oneof![
                ip().prop_map(|ip| ip.to_string()),
                (ip(), 0u8..=200).prop_map(|(ip, p)| format!("{ip}/{p}")),
            ],
            0..4,
        )
        .prop_map(|nets| nets.join(",")),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn config_never_panics_on_any_one_variable(
        name in prop::sample::select(VARIABLES.to_vec()),
        value in setting_value(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("db.sqlite3").to_str().unwrap().to_string();
        let secret = "k".repeat(40);
        let result = Config::from_lookup(|variable| {
            if variable == name {
                Some(value.clone())
            } else if variable == "SECRET_KEY" {
                Some(secret.clone())
            } else if variable == "DATABASE_URL" {
                Some(database.clone())
            } else {
                None
            }
        });
        // An invalid value is refused with the name of a variable, never with a panic.
        if let Err(error) = result {
            prop_assert!(VARIABLES.contains(&error.name), "{}", error);
        }
    }
}
