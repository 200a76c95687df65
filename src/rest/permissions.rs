//! Provides the pluggable permission policies and their composition (`&`, `|`, `!`).

use std::sync::Arc;

use actix_web::http::Method;

use crate::rest::request::Request;

pub const DEFAULT_DENIAL: &str = "You do not have permission to perform this action.";

/// Why a permission refused: DRF's `message` and `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub message: String,
    pub code: String,
}

impl Default for Denial {
    fn default() -> Denial {
        Denial {
            message: DEFAULT_DENIAL.to_string(),
            code: "permission_denied".to_string(),
        }
    }
}

pub trait Permission: Send + Sync {
    /// True when the request may reach the view at all.
    fn has_permission(&self, request: &Request) -> bool;

    /// True when the request may act on `object` (views that load one call this).
    fn has_object_permission(&self, _request: &Request, _object: &dyn std::any::Any) -> bool {
        true
    }

    /// The denial reported when `has_permission` is false.
    fn denial(&self) -> Denial {
        Denial::default()
    }

    /// `Ok` or the denial of the member that refused; composites override it to keep that member's message.
    fn check(&self, request: &Request) -> Result<(), Denial> {
        if self.has_permission(request) {
            Ok(())
        } else {
            Err(self.denial())
        }
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub struct AllowAny;
impl Permission for AllowAny {
    fn has_permission(&self, _request: &Request) -> bool {
        true
    }
}

pub struct IsAuthenticated;
impl Permission for IsAuthenticated {
    fn has_permission(&self, request: &Request) -> bool {
        request.is_authenticated()
    }
}

pub struct IsAdminUser;
impl Permission for IsAdminUser {
    fn has_permission(&self, request: &Request) -> bool {
        request.user.as_ref().is_some_and(|user| user.is_staff)
    }
}

pub struct IsAuthenticatedOrReadOnly;
impl Permission for IsAuthenticatedOrReadOnly {
    fn has_permission(&self, request: &Request) -> bool {
        is_safe(request.method()) || request.is_authenticated()
    }
}

/// Both must allow; the first that refuses gives the message.
pub struct And(pub Arc<dyn Permission>, pub Arc<dyn Permission>);
impl Permission for And {
    fn has_permission(&self, request: &Request) -> bool {
        self.check(request).is_ok()
    }
    fn check(&self, request: &Request) -> Result<(), Denial> {
        self.0.check(request)?;
        self.1.check(request)
    }
}

/// Either may allow; when both refuse, the second's message is reported.
pub struct Or(pub Arc<dyn Permission>, pub Arc<dyn Permission>);
impl Permission for Or {
    fn has_permission(&self, request: &Request) -> bool {
        self.check(request).is_ok()
    }
    fn check(&self, request: &Request) -> Result<(), Denial> {
        self.0.check(request).or_else(|_| self.1.check(request))
    }
}

/// Inverts a permission; its refusal uses the default message.
pub struct Not(pub Arc<dyn Permission>);
impl Permission for Not {
    fn has_permission(&self, request: &Request) -> bool {
        !self.0.has_permission(request)
    }
}

/// A permission class by its DRF name.
pub fn permission_by_name(name: &str) -> Option<Arc<dyn Permission>> {
    let permission: Arc<dyn Permission> = match name {
        "AllowAny" => Arc::new(AllowAny),
        "IsAuthenticated" => Arc::new(IsAuthenticated),
        "IsAdminUser" => Arc::new(IsAdminUser),
        "IsAuthenticatedOrReadOnly" => Arc::new(IsAuthenticatedOrReadOnly),
        _ => return None,
    };
    Some(permission)
}

/// Parses a setting such as `IsAuthenticated, IsAdminUser | (IsAuthenticatedOrReadOnly & !IsAdminUser)`:
/// a comma-separated list (all must allow, as DRF's list) of expressions where `!` binds
/// tighter than `&`, which binds tighter than `|`.
pub fn parse_permission_classes(setting: &str) -> Result<Vec<Arc<dyn Permission>>, String> {
    let mut classes = Vec::new();
    for item in split_top_level(setting)? {
        let tokens = tokenize(&item)?;
        let mut parser = ExprParser { tokens, pos: 0 };
        let permission = parser.or_expr()?;
        if parser.pos != parser.tokens.len() {
            return Err(format!(
                "unexpected {:?} in {item:?}",
                parser.tokens[parser.pos]
            ));
        }
        classes.push(permission);
    }
    Ok(classes)
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

struct ExprParser {
    tokens: Vec<Token>,
    pos: usize,
}

impl ExprParser {
    fn next_is(&self, token: &Token) -> bool {
        self.tokens.get(self.pos) == Some(token)
    }

    fn or_expr(&mut self) -> Result<Arc<dyn Permission>, String> {
        let mut left = self.and_expr()?;
        while self.next_is(&Token::Or) {
            self.pos += 1;
            left = Arc::new(Or(left, self.and_expr()?));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Arc<dyn Permission>, String> {
        let mut left = self.unary()?;
        while self.next_is(&Token::And) {
            self.pos += 1;
            left = Arc::new(And(left, self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Arc<dyn Permission>, String> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        match token {
            Some(Token::Not) => Ok(Arc::new(Not(self.unary()?))),
            Some(Token::Open) => {
                let inner = self.or_expr()?;
                if !self.next_is(&Token::Close) {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Name(name)) => permission_by_name(&name)
                .ok_or_else(|| format!("unknown permission class {name:?}")),
            Some(other) => Err(format!("unexpected {other:?}")),
            None => Err("expression ends too early".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::users::User;
    use actix_web::test::TestRequest;

    fn request(method: Method, user: Option<User>) -> Request {
        let (http, payload) = TestRequest::default().method(method).to_http_parts();
        let mut request = Request::new(http, payload, None, 1024);
        request.user = user;
        request
    }

    fn user(is_staff: bool) -> Option<User> {
        Some(User {
            id: 1,
            username: "u".into(),
            is_active: true,
            is_staff,
            is_superuser: false,
        })
    }

    struct Named(&'static str);
    impl Permission for Named {
        fn has_permission(&self, _request: &Request) -> bool {
            false
        }
        fn denial(&self) -> Denial {
            Denial {
                message: self.0.into(),
                code: "custom".into(),
            }
        }
    }

    fn allows(setting: &str, request: &Request) -> bool {
        parse_permission_classes(setting)
            .unwrap()
            .iter()
            .all(|p| p.check(request).is_ok())
    }

    #[test]
    fn basic_classes_follow_drf() {
        let anon_get = request(Method::GET, None);
        let anon_post = request(Method::POST, None);
        let staff = request(Method::POST, user(true));
        let member = request(Method::POST, user(false));
        assert!(allows("AllowAny", &anon_post));
        assert!(!allows("IsAuthenticated", &anon_get));
        assert!(allows("IsAuthenticatedOrReadOnly", &anon_get));
        assert!(!allows("IsAuthenticatedOrReadOnly", &anon_post));
        assert!(allows("IsAdminUser", &staff));
        assert!(!allows("IsAdminUser", &member));
    }

    #[test]
    fn composition_parses_with_precedence() {
        let member = request(Method::POST, user(false));
        assert!(allows("IsAdminUser | IsAuthenticated", &member));
        assert!(!allows("IsAdminUser & IsAuthenticated", &member));
        assert!(allows("!IsAdminUser & IsAuthenticated", &member));
        assert!(allows("IsAdminUser & AllowAny | IsAuthenticated", &member));
        assert!(!allows(
            "IsAdminUser & (AllowAny | IsAuthenticated)",
            &member
        ));
        assert!(!allows("IsAuthenticated, IsAdminUser", &member));
    }

    #[test]
    fn bad_expressions_are_rejected() {
        for bad in [
            "IsSomething",
            "IsAdminUser &",
            "(AllowAny",
            "AllowAny)",
            "Allow-Any",
        ] {
            assert!(parse_permission_classes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn composites_keep_the_failing_members_message() {
        let anon = request(Method::GET, None);
        let and = And(Arc::new(AllowAny), Arc::new(Named("first fails")));
        assert_eq!(and.check(&anon).unwrap_err().message, "first fails");
        let or = Or(Arc::new(Named("a")), Arc::new(Named("b")));
        assert_eq!(or.check(&anon).unwrap_err().message, "b");
        let not = Not(Arc::new(AllowAny));
        assert_eq!(not.check(&anon).unwrap_err().message, DEFAULT_DENIAL);
    }
}
