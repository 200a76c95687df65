//! DRF's `SimpleMetadata`: the answer to OPTIONS, describing a view and the fields it takes.

use serde_json::json;

use crate::rest::parsers::PARSED_MEDIA_TYPES;
use crate::rest::renderers::RENDERED_MEDIA_TYPES;

/// A field of the data a view's POST takes or returns, for DRF's OPTIONS metadata.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    pub name: &'static str,
    pub label: &'static str,
    pub required: bool,
    pub read_only: bool,
}

impl FieldInfo {
    /// A required string the client sends.
    pub const fn input(name: &'static str, label: &'static str) -> FieldInfo {
        FieldInfo {
            name,
            label,
            required: true,
            read_only: false,
        }
    }

    /// A string only the server returns.
    pub const fn output(name: &'static str, label: &'static str) -> FieldInfo {
        FieldInfo {
            name,
            label,
            required: false,
            read_only: true,
        }
    }
}

/// `{"name", "description", "renders", "parses"}`, plus `actions.POST` with the fields of a
/// view that takes a POST (DRF describes the serializer's fields there).
pub fn simple_metadata(
    name: &str,
    description: &str,
    post_fields: &[FieldInfo],
) -> serde_json::Value {
    let mut metadata = json!({
        "name": name,
        "description": description,
        "renders": RENDERED_MEDIA_TYPES,
        "parses": PARSED_MEDIA_TYPES,
    });
    if !post_fields.is_empty() {
        let fields: serde_json::Map<String, serde_json::Value> = post_fields
            .iter()
            .map(|field| {
                let info = json!({
                    "type": "string",
                    "required": field.required,
                    "read_only": field.read_only,
                    "label": field.label,
                });
                (field.name.to_string(), info)
            })
            .collect();
        metadata["actions"] = json!({ "POST": fields });
    }
    metadata
}
