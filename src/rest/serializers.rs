//! Provides DRF's serializers for a project's own resources: declared fields that turn a request
//! body into validated values, with DRF's error bodies to the letter, and the description
//! OPTIONS gives of them.
//!
//! ```ignore
//! let snippet = Serializer::new(vec![
//!     Field::integer("id").label("ID").read_only(),
//!     Field::char("title").max_length(100).allow_blank().default(""),
//!     Field::char("code"),
//!     Field::boolean("linenos").default(false),
//!     Field::choice("language", &[("python", "Python"), ("rust", "Rust")]).default("python"),
//!     Field::read_only("owner"),
//! ]);
//! let data = snippet.validate(request.data().await?, Input::Json, Partial::No)?;
//! let new: NewSnippet = serde_json::from_value(data.into())?;
//! ```
//!
//! What DRF does and this does too: every failing field is reported at once, in the declared
//! order; text is trimmed (whitespace only is blank); booleans take `"true"`, `"on"`, `1`, ...;
//! a missing field with a default gets it, without one is "This field is required." (not for a
//! partial update, PATCH); read-only fields are ignored on input; an HTML form leaves an
//! unchecked checkbox out, which is `false`.

use serde_json::{Map, Value, json};

use crate::rest::exceptions::ApiError;
use crate::rest::fields::expect_object;
use crate::rest::request::Request;

/// What a field holds, and its rules.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// DRF's `CharField`.
    Char {
        max_length: Option<usize>,
        min_length: Option<usize>,
        allow_blank: bool,
    },
    /// DRF's `BooleanField`.
    Boolean,
    /// DRF's `IntegerField`.
    Integer {
        min_value: Option<i64>,
        max_value: Option<i64>,
    },
    /// DRF's `ChoiceField`: (value, display name) pairs.
    Choice {
        choices: Vec<(String, String)>,
        allow_blank: bool,
    },
    /// DRF's `ReadOnlyField`: filled from the object (e.g. the owner's username).
    ReadOnly,
}

/// One declared field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub label: String,
    pub kind: Kind,
    pub read_only: bool,
    pub allow_null: bool,
    /// Given to a missing field (not for a partial update); a field with one is not required.
    pub default: Option<Value>,
    /// `None`: required unless it has a default or is read-only, as DRF decides.
    required: Option<bool>,
}

/// Where the data came from: an HTML form (form-urlencoded, multipart) leaves an unchecked
/// checkbox out, which DRF reads as `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Json,
    Form,
}

impl Input {
    /// The input of a body of this `Content-Type`.
    pub fn of(content_type: &str) -> Input {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded")
            || media_type.eq_ignore_ascii_case("multipart/form-data")
        {
            Input::Form
        } else {
            Input::Json
        }
    }
}

/// A partial update (PATCH) validates only the fields it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partial {
    No,
    Yes,
}

/// DRF's `capfirst(name.replace('_', ' '))`.
fn label_of(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl Field {
    fn new(name: &str, kind: Kind) -> Field {
        Field {
            name: name.to_string(),
            label: label_of(name),
            read_only: matches!(kind, Kind::ReadOnly),
            kind,
            allow_null: false,
            default: None,
            required: None,
        }
    }

    pub fn char(name: &str) -> Field {
        Field::new(
            name,
            Kind::Char {
                max_length: None,
                min_length: None,
                allow_blank: false,
            },
        )
    }

    pub fn boolean(name: &str) -> Field {
        Field::new(name, Kind::Boolean)
    }

    pub fn integer(name: &str) -> Field {
        Field::new(
            name,
            Kind::Integer {
                min_value: None,
                max_value: None,
            },
        )
    }

    /// `choices`: (value, display name) pairs, in the order OPTIONS lists them.
    pub fn choice(name: &str, choices: &[(&str, &str)]) -> Field {
        Field::new(
            name,
            Kind::Choice {
                choices: choices
                    .iter()
                    .map(|(value, display)| (value.to_string(), display.to_string()))
                    .collect(),
                allow_blank: false,
            },
        )
    }

    /// DRF's `ReadOnlyField`: output only.
    pub fn read_only_field(name: &str) -> Field {
        Field::new(name, Kind::ReadOnly)
    }

    /// Output only: ignored on input (DRF's `read_only=True`).
    pub fn read_only(mut self) -> Field {
        self.read_only = true;
        self
    }

    pub fn label(mut self, label: &str) -> Field {
        self.label = label.to_string();
        self
    }

    pub fn max_length(mut self, limit: usize) -> Field {
        if let Kind::Char { max_length, .. } = &mut self.kind {
            *max_length = Some(limit);
        }
        self
    }

    pub fn min_length(mut self, limit: usize) -> Field {
        if let Kind::Char { min_length, .. } = &mut self.kind {
            *min_length = Some(limit);
        }
        self
    }

    pub fn min_value(mut self, limit: i64) -> Field {
        if let Kind::Integer { min_value, .. } = &mut self.kind {
            *min_value = Some(limit);
        }
        self
    }

    pub fn max_value(mut self, limit: i64) -> Field {
        if let Kind::Integer { max_value, .. } = &mut self.kind {
            *max_value = Some(limit);
        }
        self
    }

    /// An empty string is a value (text and choices).
    pub fn allow_blank(mut self) -> Field {
        match &mut self.kind {
            Kind::Char { allow_blank, .. } | Kind::Choice { allow_blank, .. } => {
                *allow_blank = true
            }
            _ => {}
        }
        self
    }

    pub fn allow_null(mut self) -> Field {
        self.allow_null = true;
        self
    }

    /// The value of a missing field; the field is then not required.
    pub fn default(mut self, value: impl Into<Value>) -> Field {
        self.default = Some(value.into());
        self
    }

    /// Not required, and left out when missing (no default).
    pub fn optional(mut self) -> Field {
        self.required = Some(false);
        self
    }

    /// Whether a missing field is an error (DRF's `required`).
    pub fn is_required(&self) -> bool {
        self.required
            .unwrap_or(!self.read_only && self.default.is_none())
    }

    /// The field's value from `data`, or why it is refused; `None` to leave it out.
    fn run(
        &self,
        data: &Map<String, Value>,
        input: Input,
        partial: Partial,
    ) -> Result<Option<Value>, Vec<String>> {
        let presented = match data.get(&self.name) {
            Some(value) => Some(value),
            // An unchecked HTML checkbox is not sent at all: DRF reads it as false.
            None if input == Input::Form
                && self.kind == Kind::Boolean
                && partial == Partial::No =>
            {
                return Ok(Some(Value::Bool(false)));
            }
            None => None,
        };
        let Some(value) = presented else {
            if partial == Partial::Yes {
                return Ok(None);
            }
            if self.is_required() {
                return Err(vec!["This field is required.".into()]);
            }
            return Ok(self.default.clone());
        };
        if value.is_null() {
            return if self.allow_null {
                Ok(Some(Value::Null))
            } else {
                Err(vec!["This field may not be null.".into()])
            };
        }
        self.kind.to_internal_value(value).map(Some)
    }

    /// DRF's `SimpleMetadata.get_field_info`.
    fn info(&self) -> Value {
        let type_name = match &self.kind {
            Kind::Char { .. } => "string",
            Kind::Boolean => "boolean",
            Kind::Integer { .. } => "integer",
            Kind::Choice { .. } => "choice",
            Kind::ReadOnly => "field",
        };
        let mut info = Map::new();
        info.insert("type".into(), type_name.into());
        info.insert("required".into(), self.is_required().into());
        info.insert("read_only".into(), self.read_only.into());
        info.insert("label".into(), self.label.clone().into());
        match &self.kind {
            Kind::Char {
                max_length,
                min_length,
                ..
            } => {
                if let Some(min) = min_length {
                    info.insert("min_length".into(), (*min).into());
                }
                if let Some(max) = max_length {
                    info.insert("max_length".into(), (*max).into());
                }
            }
            Kind::Integer {
                min_value,
                max_value,
            } => {
                if let Some(min) = min_value {
                    info.insert("min_value".into(), (*min).into());
                }
                if let Some(max) = max_value {
                    info.insert("max_value".into(), (*max).into());
                }
            }
            Kind::Choice { choices, .. } if !self.read_only => {
                let listed: Vec<Value> = choices
                    .iter()
                    .map(|(value, display)| json!({"value": value, "display_name": display}))
                    .collect();
                info.insert("choices".into(), listed.into());
            }
            _ => {}
        }
        Value::Object(info)
    }
}

/// Python's `str()` of a JSON value, as DRF's messages quote what was sent.
fn python_str(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Number(number) => number.to_string(),
        other => other.to_string(),
    }
}

impl Kind {
    fn to_internal_value(&self, value: &Value) -> Result<Value, Vec<String>> {
        match self {
            Kind::Char {
                max_length,
                min_length,
                allow_blank,
            } => char_value(value, *max_length, *min_length, *allow_blank),
            Kind::Boolean => boolean_value(value),
            Kind::Integer {
                min_value,
                max_value,
            } => integer_value(value, *min_value, *max_value),
            Kind::Choice {
                choices,
                allow_blank,
            } => {
                if *allow_blank && value.as_str() == Some("") {
                    return Ok(Value::String(String::new()));
                }
                let text = python_str(value);
                match choices.iter().find(|(choice, _)| *choice == text) {
                    Some((choice, _)) if !value.is_array() && !value.is_object() => {
                        Ok(Value::String(choice.clone()))
                    }
                    _ => Err(vec![format!("\"{text}\" is not a valid choice.")]),
                }
            }
            Kind::ReadOnly => Ok(value.clone()),
        }
    }
}

/// DRF's `CharField`: strings and numbers, trimmed; blank, length and NUL rules.
fn char_value(
    value: &Value,
    max_length: Option<usize>,
    min_length: Option<usize>,
    allow_blank: bool,
) -> Result<Value, Vec<String>> {
    let text = match value {
        Value::String(text) => text.trim().to_string(),
        Value::Number(number) => number.to_string(),
        _ => return Err(vec!["Not a valid string.".into()]),
    };
    if text.is_empty() {
        return if allow_blank {
            Ok(Value::String(text))
        } else {
            Err(vec!["This field may not be blank.".into()])
        };
    }
    let mut errors = Vec::new();
    if text.contains('\0') {
        errors.push("Null characters are not allowed.".to_string());
    }
    // Django counts characters (code points), not bytes.
    let length = text.chars().count();
    if let Some(max) = max_length
        && length > max
    {
        errors.push(format!(
            "Ensure this field has no more than {max} characters."
        ));
    }
    if let Some(min) = min_length
        && length < min
    {
        errors.push(format!("Ensure this field has at least {min} characters."));
    }
    if errors.is_empty() {
        Ok(Value::String(text))
    } else {
        Err(errors)
    }
}

/// DRF's `BooleanField.TRUE_VALUES` / `FALSE_VALUES`.
fn boolean_value(value: &Value) -> Result<Value, Vec<String>> {
    const TRUE: [&str; 11] = [
        "t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "1",
    ];
    const FALSE: [&str; 11] = [
        "f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "0",
    ];
    let parsed = match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) if TRUE.contains(&text.as_str()) => Some(true),
        Value::String(text) if ["on", "On", "ON"].contains(&text.as_str()) => Some(true),
        Value::String(text) if FALSE.contains(&text.as_str()) => Some(false),
        Value::String(text) if ["off", "Off", "OFF"].contains(&text.as_str()) => Some(false),
        // Python: 1 == 1.0 == True, 0 == 0.0 == False.
        Value::Number(number) => {
            let n = number.as_f64();
            if n == Some(1.0) {
                Some(true)
            } else if n == Some(0.0) {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    };
    parsed
        .map(Value::Bool)
        .ok_or_else(|| vec!["Must be a valid boolean.".into()])
}

/// DRF's `IntegerField`: integers, integral floats, and strings of them (`"12"`, `" 12 "`,
/// `"12.0"`).
fn integer_value(
    value: &Value,
    min_value: Option<i64>,
    max_value: Option<i64>,
) -> Result<Value, Vec<String>> {
    const INVALID: &str = "A valid integer is required.";
    let number = match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(text) => {
            if text.len() > 1000 {
                return Err(vec!["String value too large.".into()]);
            }
            let trimmed = text.trim();
            // DRF strips a trailing `.0*` before int().
            let digits = match trimmed.split_once('.') {
                Some((whole, zeros)) if zeros.bytes().all(|b| b == b'0') => whole,
                _ => trimmed,
            };
            digits.parse::<i64>().ok()
        }
        _ => None,
    };
    let Some(number) = number else {
        return Err(vec![INVALID.into()]);
    };
    let mut errors = Vec::new();
    if let Some(max) = max_value
        && number > max
    {
        errors.push(format!("Ensure this value is less than or equal to {max}."));
    }
    if let Some(min) = min_value
        && number < min
    {
        errors.push(format!(
            "Ensure this value is greater than or equal to {min}."
        ));
    }
    if errors.is_empty() {
        Ok(Value::from(number))
    } else {
        Err(errors)
    }
}

/// A resource's declared fields, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Serializer {
    pub fields: Vec<Field>,
}

impl Serializer {
    pub fn new(fields: Vec<Field>) -> Serializer {
        Serializer { fields }
    }

    /// The validated values of the writable fields, or DRF's 400 with every failing field (in
    /// the declared order). Read-only fields and unknown keys are ignored.
    pub fn validate(
        &self,
        data: Value,
        input: Input,
        partial: Partial,
    ) -> Result<Map<String, Value>, ApiError> {
        let data = expect_object(data)?;
        let mut values = Map::new();
        let mut errors = Map::new();
        for field in self.fields.iter().filter(|field| !field.read_only) {
            match field.run(&data, input, partial) {
                Ok(Some(value)) => {
                    values.insert(field.name.clone(), value);
                }
                Ok(None) => {}
                Err(messages) => {
                    errors.insert(field.name.clone(), messages.into());
                }
            }
        }
        if errors.is_empty() {
            Ok(values)
        } else {
            Err(ApiError::validation(errors))
        }
    }

    /// Reads the request's body and validates it, as an HTML form or not by its `Content-Type`.
    pub async fn validate_request(
        &self,
        request: &mut Request,
        partial: Partial,
    ) -> Result<Map<String, Value>, ApiError> {
        let content_type = request
            .header("content-type")
            .map(|value| String::from_utf8_lossy(value).into_owned())
            .unwrap_or_default();
        let data = request.data().await?;
        self.validate(data, Input::of(&content_type), partial)
    }

    /// DRF's `SimpleMetadata` description of the fields (OPTIONS' `actions.POST`/`PUT`).
    pub fn metadata(&self) -> Value {
        Value::Object(
            self.fields
                .iter()
                .map(|field| (field.name.clone(), field.info()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DRF's tutorial `SnippetSerializer`.
    fn snippets() -> Serializer {
        Serializer::new(vec![
            Field::integer("id").label("ID").read_only(),
            Field::char("title")
                .max_length(100)
                .allow_blank()
                .default(""),
            Field::char("code"),
            Field::boolean("linenos").default(false),
            Field::choice(
                "language",
                &[
                    ("javascript", "JavaScript"),
                    ("python", "Python"),
                    ("rust", "Rust"),
                    ("sql", "SQL"),
                    ("text", "Plain text"),
                ],
            )
            .default("python"),
            Field::choice(
                "style",
                &[
                    ("friendly", "friendly"),
                    ("monokai", "monokai"),
                    ("solarized", "solarized"),
                ],
            )
            .default("friendly"),
            Field::read_only_field("owner"),
        ])
    }

    fn errors(data: Value) -> Value {
        snippets()
            .validate(data, Input::Json, Partial::No)
            .unwrap_err()
            .body
    }

    #[test]
    fn defaults_fill_what_is_missing_and_read_only_fields_are_ignored() {
        let values = snippets()
            .validate(
                json!({"code": " print(1) ", "id": 7, "owner": "mallory", "extra": 1}),
                Input::Json,
                Partial::No,
            )
            .unwrap();
        assert_eq!(
            Value::Object(values),
            json!({"title": "", "code": "print(1)", "linenos": false, "language": "python",
                   "style": "friendly"})
        );
    }

    #[test]
    fn every_failing_field_is_reported_in_field_order_with_drfs_messages() {
        assert_eq!(
            errors(json!({"language": "cobol", "title": "x".repeat(101), "linenos": "maybe"})),
            json!({
                "title": ["Ensure this field has no more than 100 characters."],
                "code": ["This field is required."],
                "linenos": ["Must be a valid boolean."],
                "language": ["\"cobol\" is not a valid choice."],
            })
        );
        assert_eq!(
            errors(json!({"code": "   ", "style": null, "language": ""})),
            json!({
                "code": ["This field may not be blank."],
                "language": ["\"\" is not a valid choice."],
                "style": ["This field may not be null."],
            })
        );
        assert_eq!(
            errors(json!({"code": [1], "language": 1, "linenos": 2})),
            json!({
                "code": ["Not a valid string."],
                "linenos": ["Must be a valid boolean."],
                "language": ["\"1\" is not a valid choice."],
            })
        );
        assert_eq!(
            errors(json!([])),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
        );
    }

    #[test]
    fn lengths_count_characters_and_nul_is_refused() {
        let ok = snippets()
            .validate(
                json!({"code": "x", "title": "é".repeat(100)}),
                Input::Json,
                Partial::No,
            )
            .unwrap();
        assert_eq!(ok["title"].as_str().unwrap().chars().count(), 100);
        assert_eq!(
            errors(json!({"code": "a\u{0}b"})),
            json!({"code": ["Null characters are not allowed."]})
        );
    }

    #[test]
    fn booleans_parse_as_drf() {
        for (sent, parsed) in [
            (json!(true), true),
            (json!("true"), true),
            (json!("on"), true),
            (json!("Y"), true),
            (json!(1), true),
            (json!(1.0), true),
            (json!("1"), true),
            (json!("off"), false),
            (json!("False"), false),
            (json!(0), false),
            (json!("0"), false),
        ] {
            let values = snippets()
                .validate(
                    json!({"code": "x", "linenos": sent.clone()}),
                    Input::Json,
                    Partial::No,
                )
                .unwrap();
            assert_eq!(values["linenos"], json!(parsed), "{sent}");
        }
        // An HTML form leaves an unchecked box out: false, not the default.
        let serializer = Serializer::new(vec![Field::boolean("subscribe").default(true)]);
        let form = serializer
            .validate(json!({}), Input::Form, Partial::No)
            .unwrap();
        assert_eq!(form["subscribe"], json!(false));
        let json_body = serializer
            .validate(json!({}), Input::Json, Partial::No)
            .unwrap();
        assert_eq!(json_body["subscribe"], json!(true));
    }

    #[test]
    fn a_partial_update_validates_only_what_it_sends() {
        let values = snippets()
            .validate(json!({"title": " new "}), Input::Json, Partial::Yes)
            .unwrap();
        assert_eq!(Value::Object(values), json!({"title": "new"}));
        let refused = snippets()
            .validate(json!({"code": ""}), Input::Form, Partial::Yes)
            .unwrap_err();
        assert_eq!(
            refused.body,
            json!({"code": ["This field may not be blank."]})
        );
    }

    #[test]
    fn integers_parse_as_drf() {
        let serializer = Serializer::new(vec![Field::integer("n").min_value(1).max_value(10)]);
        let parse = |sent: Value| {
            serializer
                .validate(json!({ "n": sent }), Input::Json, Partial::No)
                .map(|values| values["n"].clone())
                .map_err(|e| e.body["n"][0].clone())
        };
        assert_eq!(parse(json!("7")), Ok(json!(7)));
        assert_eq!(parse(json!(" 7 ")), Ok(json!(7)));
        assert_eq!(parse(json!("7.00")), Ok(json!(7)));
        assert_eq!(parse(json!(7.0)), Ok(json!(7)));
        assert_eq!(
            parse(json!(7.5)),
            Err(json!("A valid integer is required."))
        );
        assert_eq!(
            parse(json!(true)),
            Err(json!("A valid integer is required."))
        );
        assert_eq!(
            parse(json!(11)),
            Err(json!("Ensure this value is less than or equal to 10."))
        );
        assert_eq!(
            parse(json!(0)),
            Err(json!("Ensure this value is greater than or equal to 1."))
        );
        assert_eq!(
            parse(json!("9".repeat(1001))),
            Err(json!("String value too large."))
        );
    }

    #[test]
    fn metadata_describes_the_fields_as_simple_metadata() {
        let metadata = snippets().metadata();
        assert_eq!(
            metadata["id"],
            json!({"type": "integer", "required": false, "read_only": true, "label": "ID"})
        );
        assert_eq!(
            metadata["title"],
            json!({"type": "string", "required": false, "read_only": false, "label": "Title",
                   "max_length": 100})
        );
        assert_eq!(
            metadata["code"],
            json!({"type": "string", "required": true, "read_only": false, "label": "Code"})
        );
        assert_eq!(
            metadata["language"]["choices"][4],
            json!({"value": "text", "display_name": "Plain text"})
        );
        assert_eq!(
            metadata["owner"],
            json!({"type": "field", "required": false, "read_only": true, "label": "Owner"})
        );
        let keys: Vec<&String> = metadata.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "id", "title", "code", "linenos", "language", "style", "owner"
            ]
        );
    }
}
