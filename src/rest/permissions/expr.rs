//! Parses the permission setting into a typed expression, once, when the settings are read.
//!
//! `IsAuthenticated, IsAdminUser | (IsAuthenticatedOrReadOnly & !IsAdminUser)` is a
//! comma-separated list (all must allow, as DRF's list) of expressions where `!` (or `~`,
//! Python's operator) binds tighter than `&`, which binds tighter than `|`: DRF's operator
//! composition, written in a setting instead of Python.

use std::sync::Arc;

use super::Permission;
use super::{AllowAny, And, IsAdminUser, IsAuthenticated, IsAuthenticatedOrReadOnly, Not, Or};

/// DRF's permission classes, by the names a setting uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionClass {
    AllowAny,
    IsAuthenticated,
    IsAdminUser,
    IsAuthenticatedOrReadOnly,
}

impl PermissionClass {
    fn from_name(name: &str) -> Option<PermissionClass> {
        Some(match name {
            "AllowAny" => PermissionClass::AllowAny,
            "IsAuthenticated" => PermissionClass::IsAuthenticated,
            "IsAdminUser" => PermissionClass::IsAdminUser,
            "IsAuthenticatedOrReadOnly" => PermissionClass::IsAuthenticatedOrReadOnly,
            _ => return None,
        })
    }

    fn build(self) -> Arc<dyn Permission> {
        match self {
            PermissionClass::AllowAny => Arc::new(AllowAny),
            PermissionClass::IsAuthenticated => Arc::new(IsAuthenticated),
            PermissionClass::IsAdminUser => Arc::new(IsAdminUser),
            PermissionClass::IsAuthenticatedOrReadOnly => Arc::new(IsAuthenticatedOrReadOnly),
        }
    }
}

/// One member of the setting's list: a class, or a composition of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionExpr {
    Class(PermissionClass),
    And(Box<PermissionExpr>, Box<PermissionExpr>),
    Or(Box<PermissionExpr>, Box<PermissionExpr>),
    Not(Box<PermissionExpr>),
}

impl PermissionExpr {
    /// The permission object the dispatcher runs.
    pub fn build(&self) -> Arc<dyn Permission> {
        match self {
            PermissionExpr::Class(class) => class.build(),
            PermissionExpr::And(a, b) => Arc::new(And(a.build(), b.build())),
            PermissionExpr::Or(a, b) => Arc::new(Or(a.build(), b.build())),
            PermissionExpr::Not(a) => Arc::new(Not(a.build())),
        }
    }
}

/// Parses the whole setting: one expression per top-level comma.
pub fn parse(setting: &str) -> Result<Vec<PermissionExpr>, String> {
    let mut list = Vec::new();
    for item in split_top_level(setting)? {
        let tokens = tokenize(&item)?;
        let mut parser = ExprParser {
            tokens,
            pos: 0,
            depth: 0,
        };
        let expr = parser.or_expr()?;
        if let Some(extra) = parser.tokens.get(parser.pos) {
            return Err(format!("unexpected {extra:?} in {item:?}"));
        }
        list.push(expr);
    }
    Ok(list)
}

fn split_top_level(setting: &str) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    let (mut depth, mut current) = (0i32, String::new());
    for c in setting.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    items.push(current);
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    And,
    Or,
    Not,
    Open,
    Close,
}

fn tokenize(expr: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '&' | '|' | '!' | '~' | '(' | ')' => {
                chars.next();
                tokens.push(match c {
                    '&' => Token::And,
                    '|' => Token::Or,
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Not,
                });
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let mut name = String::new();
                while let Some(&c) = chars
                    .peek()
                    .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
                {
                    name.push(c);
                    chars.next();
                }
                tokens.push(Token::Name(name));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(tokens)
}

/// Recursive descent, one function per precedence level.
struct ExprParser {
    tokens: Vec<Token>,
    pos: usize,
    /// Open `(` and `!` around the current position.
    depth: usize,
}

/// Deeper nesting is refused: a setting is written by a person, and the recursion stays bounded.
const MAX_DEPTH: usize = 64;

impl ExprParser {
    fn next_is(&self, token: &Token) -> bool {
        self.tokens.get(self.pos) == Some(token)
    }

    fn or_expr(&mut self) -> Result<PermissionExpr, String> {
        let mut left = self.and_expr()?;
        while self.next_is(&Token::Or) {
            self.pos += 1;
            left = PermissionExpr::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<PermissionExpr, String> {
        let mut left = self.unary()?;
        while self.next_is(&Token::And) {
            self.pos += 1;
            left = PermissionExpr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<PermissionExpr, String> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        match token {
            Some(Token::Not | Token::Open) if self.depth >= MAX_DEPTH => {
                Err("expression nested too deeply".into())
            }
            Some(Token::Not) => {
                self.depth += 1;
                let inner = self.unary();
                self.depth -= 1;
                Ok(PermissionExpr::Not(Box::new(inner?)))
            }
            Some(Token::Open) => {
                self.depth += 1;
                let inner = self.or_expr();
                self.depth -= 1;
                let inner = inner?;
                if !self.next_is(&Token::Close) {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Name(name)) => PermissionClass::from_name(&name)
                .map(PermissionExpr::Class)
                .ok_or_else(|| format!("unknown permission class {name:?}")),
            Some(other) => Err(format!("unexpected {other:?}")),
            None => Err("expression ends too early".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_not_and_or() {
        use PermissionClass::*;
        let class = |c| Box::new(PermissionExpr::Class(c));
        assert_eq!(
            parse("!IsAdminUser & AllowAny | IsAuthenticated").unwrap(),
            vec![PermissionExpr::Or(
                Box::new(PermissionExpr::And(
                    Box::new(PermissionExpr::Not(class(IsAdminUser))),
                    class(AllowAny)
                )),
                class(IsAuthenticated)
            )]
        );
        assert_eq!(parse("AllowAny, IsAuthenticated").unwrap().len(), 2);
    }
}
