//! Provides DRF's serializer input checks: the body must be an object, and `CharField` rules.

use serde_json::{Map, Value};

use crate::rest::exceptions::ApiError;

/// The body as an object, or DRF's `non_field_errors` for anything else.
pub fn expect_object(data: Value) -> Result<Map<String, Value>, ApiError> {
    let got = match data {
        Value::Object(map) => return Ok(map),
        Value::Null => return Err(ApiError::non_field_error("No data provided")),
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
    };
    Err(ApiError::non_field_error(format!(
        "Invalid data. Expected a dictionary, but got {got}."
    )))
}

/// Validates several required `CharField`s at once, reporting every failing field.
pub fn char_fields<const N: usize>(
    data: &Map<String, Value>,
    names: [&str; N],
) -> Result<[String; N], ApiError> {
    let mut errors = Map::new();
    let mut values: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, name) in values.iter_mut().zip(names) {
        match char_field(data.get(name)) {
            Ok(value) => *slot = value,
            Err(message) => {
                errors.insert(name.to_string(), Value::from(vec![message]));
            }
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(ApiError::validation(errors))
    }
}

/// A required, non-blank string; numbers are coerced and surrounding whitespace trimmed.
fn char_field(value: Option<&Value>) -> Result<String, &'static str> {
    let text = match value {
        None => return Err("This field is required."),
        Some(Value::Null) => return Err("This field may not be null."),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err("Not a valid string."),
    };
    if text.is_empty() {
        return Err("This field may not be blank.");
    }
    if text.contains('\0') {
        return Err("Null characters are not allowed.");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(data: Value) -> Value {
        let map = expect_object(data).unwrap();
        char_fields(&map, ["username", "password"])
            .unwrap_err()
            .body
    }

    #[test]
    fn every_failing_field_is_reported() {
        assert_eq!(
            errors(json!({})),
            json!({"username": ["This field is required."], "password": ["This field is required."]})
        );
        assert_eq!(
            errors(json!({"username": null, "password": [1]})),
            json!({"username": ["This field may not be null."], "password": ["Not a valid string."]})
        );
        assert_eq!(
            errors(json!({"username": " ", "password": "x"})),
            json!({"username": ["This field may not be blank."]})
        );
    }

    #[test]
    fn null_characters_are_refused() {
        assert_eq!(
            errors(json!({"username": "a\u{0}b", "password": "x"})),
            json!({"username": ["Null characters are not allowed."]})
        );
    }

    #[test]
    fn numbers_are_coerced_and_strings_trimmed() {
        let map = expect_object(json!({"username": 123, "password": " pw "})).unwrap();
        let [username, password] = char_fields(&map, ["username", "password"]).unwrap();
        assert_eq!((username.as_str(), password.as_str()), ("123", "pw"));
    }

    #[test]
    fn non_objects_get_python_type_names() {
        for (data, expected) in [
            (
                json!([]),
                "Invalid data. Expected a dictionary, but got list.",
            ),
            (
                json!("x"),
                "Invalid data. Expected a dictionary, but got str.",
            ),
            (
                json!(1),
                "Invalid data. Expected a dictionary, but got int.",
            ),
            (
                json!(true),
                "Invalid data. Expected a dictionary, but got bool.",
            ),
            (json!(null), "No data provided"),
        ] {
            let err = expect_object(data).unwrap_err();
            assert_eq!(err.body, json!({"non_field_errors": [expected]}));
        }
    }
}
