//! Reads one variable at a time, with its default, and names it in every error.

use super::ConfigError;

pub(super) struct Vars<'a>(pub(super) &'a dyn Fn(&str) -> Option<String>);

pub(super) fn invalid(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        message: message.into(),
    }
}

impl Vars<'_> {
    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_string())
    }

    pub(super) fn string(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    pub(super) fn list(&self, name: &str, default: &str) -> Vec<String> {
        self.string(name, default)
            .split(',')
            .map(|item| item.trim().to_string())
            .filter(|item| !item.is_empty())
            .collect()
    }

    /// Any `FromStr` value; its error message is kept, prefixed with the value.
    pub(super) fn parse<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|e| invalid(name, format!("{value:?}: {e}"))),
        }
    }

    /// Each item of a comma list parsed as `T`.
    pub(super) fn parse_list<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: &str,
    ) -> Result<Vec<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        self.list(name, default)
            .iter()
            .map(|item| item.parse().map_err(|e| invalid(name, format!("{e}"))))
            .collect()
    }

    pub(super) fn millis(
        &self,
        name: &'static str,
        default: u64,
    ) -> Result<std::time::Duration, ConfigError> {
        self.parse(name, default)
            .map(std::time::Duration::from_millis)
    }

    /// A text given inline (`NAME`, where `\n` stands for a newline, as a PEM key in a one-line
    /// variable needs) or as the path of a file holding it (`FILE_NAME`); not both.
    pub(super) fn text_or_file(
        &self,
        name: &'static str,
        file_name: &'static str,
    ) -> Result<Option<String>, ConfigError> {
        let inline = self.get(name).filter(|v| !v.is_empty());
        let path = self.get(file_name).filter(|v| !v.is_empty());
        match (inline, path) {
            (Some(_), Some(_)) => Err(invalid(
                name,
                format!("set {name} or {file_name}, not both"),
            )),
            (Some(text), None) => Ok(Some(text.replace("\\n", "\n"))),
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map(Some)
                .map_err(|e| invalid(file_name, format!("cannot read {path}: {e}"))),
            (None, None) => Ok(None),
        }
    }

    pub(super) fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(invalid(name, format!("expected true or false, got {v:?}"))),
        }
    }
}
