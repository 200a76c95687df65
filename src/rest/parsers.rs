//! Provides the request body parsers: JSON, form-urlencoded and multipart, as DRF's defaults.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::rest::exceptions::ApiError;

pub const PARSED_MEDIA_TYPES: [&str; 3] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

/// Parses `body` according to `content_type`; an empty body is an empty object, as in DRF.
pub async fn parse(content_type: &str, body: Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/json" => parse_json(&body),
        "application/x-www-form-urlencoded" => Ok(parse_form(&body)),
        "multipart/form-data" => parse_multipart(content_type, body).await,
        _ => Err(ApiError::unsupported_media_type(content_type)),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::parse_error(format!("JSON parse error - {e}")))
}

/// Repeated keys keep the last value, as a Django `QueryDict` read by key does.
fn parse_form(body: &[u8]) -> Value {
    let fields = form_urlencoded_pairs(body)
        .map(|(k, v)| (k, Value::String(v)))
        .collect::<Map<_, _>>();
    Value::Object(fields)
}

pub(crate) fn form_urlencoded_pairs(body: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut halves = pair.splitn(2, |b| *b == b'=');
            let key = percent_decode(halves.next().unwrap_or_default());
            let value = percent_decode(halves.next().unwrap_or_default());
            (key, value)
        })
}

fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => match input.get(i + 1..i + 3).and_then(hex_byte) {
                Some(byte) => {
                    out.push(byte);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_byte(digits: &[u8]) -> Option<u8> {
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u8::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

fn multipart_error(error: multer::Error) -> ApiError {
    ApiError::parse_error(format!("Multipart form parse error - {error}"))
}

async fn parse_multipart(content_type: &str, body: Bytes) -> Result<Value, ApiError> {
    let boundary = multer::parse_boundary(content_type).map_err(multipart_error)?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Map::new();
    loop {
        let field = multipart.next_field().await.map_err(multipart_error)?;
        let Some(field) = field else { break };
        let name = field.name().unwrap_or_default().to_string();
        let is_file = field.file_name().is_some();
        let text = field.text().await.map_err(multipart_error)?;
        if !is_file {
            fields.insert(name, Value::String(text));
        }
    }
    Ok(Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_plus_escapes_and_truncation() {
        assert_eq!(percent_decode(b"a+b%21"), "a b!");
        assert_eq!(percent_decode(b"100%"), "100%");
        assert_eq!(percent_decode(b"%zz"), "%zz");
        assert_eq!(percent_decode(b"%4"), "%4");
    }

    #[actix_web::test]
    async fn form_and_json_bodies_become_objects() {
        let form = parse(
            "application/x-www-form-urlencoded",
            Bytes::from("username=a%40b&password=x"),
        )
        .await
        .unwrap();
        assert_eq!(form["username"], "a@b");
        let json = parse("application/json; charset=utf-8", Bytes::from(r#"{"a":1}"#))
            .await
            .unwrap();
        assert_eq!(json["a"], 1);
    }

    #[actix_web::test]
    async fn errors_have_drf_messages() {
        let err = parse("application/json", Bytes::from("{"))
            .await
            .unwrap_err();
        assert!(
            err.body["detail"]
                .as_str()
                .unwrap()
                .starts_with("JSON parse error - ")
        );
        let err = parse("text/plain", Bytes::from("x")).await.unwrap_err();
        assert_eq!(
            err.body["detail"],
            "Unsupported media type \"text/plain\" in request."
        );
    }
}
