//! Security events: one JSON line per event on the `security` log target, for a SIEM or a
//! grep. Fields name the user (id), the client address and the refresh family; never a token,
//! a hash, a password or a username as typed (a failed login logs a hash of it).

use std::net::IpAddr;

use serde_json::{Map, Value, json};

/// The log target every event uses: `RUST_LOG=security=info` keeps them even when other
/// logging is quieter.
pub const TARGET: &str = "security";

/// One event with its fields; `None` fields are left out.
pub struct SecurityEvent {
    event: &'static str,
    fields: Map<String, Value>,
}

impl SecurityEvent {
    pub fn new(event: &'static str) -> SecurityEvent {
        let mut fields = Map::new();
        fields.insert("event".into(), event.into());
        SecurityEvent { event, fields }
    }

    pub fn user(mut self, id: Option<i32>) -> SecurityEvent {
        if let Some(id) = id {
            self.fields.insert("user_id".into(), id.into());
        }
        self
    }

    pub fn client(mut self, ip: Option<IpAddr>) -> SecurityEvent {
        if let Some(ip) = ip {
            self.fields.insert("client".into(), ip.to_string().into());
        }
        self
    }

    pub fn family(mut self, sid: Option<&str>) -> SecurityEvent {
        if let Some(sid) = sid {
            self.fields.insert("family".into(), sid.into());
        }
        self
    }

    /// Any other field (a reason, who acted, a hashed username).
    pub fn with(mut self, name: &'static str, value: impl Into<Value>) -> SecurityEvent {
        self.fields.insert(name.into(), value.into());
        self
    }

    /// Writes the line, and counts the event in the metrics (the token events among them
    /// under `token_events_total` too).
    pub fn emit(self) {
        if let Some(metrics) = crate::metrics::recording() {
            metrics
                .security_events
                .with_label_values(&[self.event])
                .inc();
            let token_event = match self.event {
                "refresh_reuse_detected" => Some("reuse_detected"),
                "family_revoked" | "logout_everywhere" => Some(self.event),
                _ => None,
            };
            if let Some(event) = token_event {
                metrics.token_events.with_label_values(&[event]).inc();
            }
        }
        log::info!(target: TARGET, "{}", json!(self.fields));
    }
}
