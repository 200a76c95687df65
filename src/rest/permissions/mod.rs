//! Provides the pluggable permission policies and their composition (`&`, `|`, `!`).

pub mod expr;

use std::any::Any;
use std::sync::Arc;

use actix_web::http::Method;

use crate::rest::request::Request;

pub const DEFAULT_DENIAL: &str = "You do not have permission to perform this action.";

/// Why a permission refused: DRF's `message`, the detail of the 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub message: String,
    /// The class that refused (a composite reports its member's), for the metrics; set by
    /// `Permission::check` when left empty.
    pub class: &'static str,
}

impl Default for Denial {
    fn default() -> Denial {
        Denial {
            message: DEFAULT_DENIAL.to_string(),
            class: "",
        }
    }
}

impl Denial {
    fn by(mut self, class: &'static str) -> Denial {
        if self.class.is_empty() {
            self.class = class;
        }
        self
    }
}

pub trait Permission: Send + Sync {
    /// True when the request may reach the view at all.
    fn has_permission(&self, request: &Request) -> bool;

    /// DRF's `has_object_permission`: whether the request may act on `object`, the one the
    /// view fetched (its own type: downcast it). Checked when the view asks for it
    /// (`Request::check_object_permissions`, DRF's `get_object`), after `has_permission`
    /// allowed the request. Default: allow.
    fn has_object_permission(&self, _request: &Request, _object: &dyn Any) -> bool {
        true
    }

    /// The denial reported when `has_permission` is false.
    fn denial(&self) -> Denial {
        Denial::default()
    }

    /// The class name the metrics report (the type's name unless overridden).
    fn name(&self) -> &'static str {
        crate::metrics::class_name(std::any::type_name::<Self>())
    }

    /// `Ok` or the denial of the member that refused; composites override it to keep that member's message.
    fn check(&self, request: &Request) -> Result<(), Denial> {
        if self.has_permission(request) {
            Ok(())
        } else {
            Err(self.denial().by(self.name()))
        }
    }

    /// `check` for the object: `Ok` or the denial of the member that refused it.
    fn check_object(&self, request: &Request, object: &dyn Any) -> Result<(), Denial> {
        if self.has_object_permission(request, object) {
            Ok(())
        } else {
            Err(self.denial().by(self.name()))
        }
    }
}

/// DRF's `SAFE_METHODS`: the methods that only read.
pub fn is_safe(method: &Method) -> bool {
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
    fn has_object_permission(&self, request: &Request, object: &dyn Any) -> bool {
        self.check_object(request, object).is_ok()
    }
    fn check_object(&self, request: &Request, object: &dyn Any) -> Result<(), Denial> {
        self.0.check_object(request, object)?;
        self.1.check_object(request, object)
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
    fn has_object_permission(&self, request: &Request, object: &dyn Any) -> bool {
        self.check_object(request, object).is_ok()
    }
    /// DRF 3.14's rule: a side allows the object only when it allows the request too, so
    /// `IsAdminUser | IsOwner` never lets a non-admin act on another's object through the
    /// admin side's default `has_object_permission`.
    fn check_object(&self, request: &Request, object: &dyn Any) -> Result<(), Denial> {
        let side = |permission: &Arc<dyn Permission>| {
            permission.check(request)?;
            permission.check_object(request, object)
        };
        side(&self.0).or_else(|_| side(&self.1))
    }
}

/// Inverts a permission; its refusal uses the default message.
pub struct Not(pub Arc<dyn Permission>);
impl Permission for Not {
    fn has_permission(&self, request: &Request) -> bool {
        !self.0.has_permission(request)
    }
    fn has_object_permission(&self, request: &Request, object: &dyn Any) -> bool {
        !self.0.has_object_permission(request, object)
    }
}

/// Parses a `DEFAULT_PERMISSION_CLASSES`-style setting and builds its permissions (see `expr`).
pub fn parse_permission_classes(setting: &str) -> Result<Vec<Arc<dyn Permission>>, String> {
    Ok(expr::parse(setting)?
        .iter()
        .map(expr::PermissionExpr::build)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::users::User;
    use crate::rest::request::BodyLimits;
    use actix_web::test::TestRequest;

    fn request(method: Method, user: Option<User>) -> Request {
        let (http, payload) = TestRequest::default().method(method).to_http_parts();
        let mut request = Request::new(http, payload, None, BodyLimits::DEFAULT);
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
            tokens_valid_after: 0,
            token_id: None,
            password_tag: Default::default(),
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
                ..Denial::default()
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

    /// An object owned by a user id; the owner may write it, anyone may read it.
    struct Note {
        owner: i32,
    }
    struct IsOwnerOrReadOnly;
    impl Permission for IsOwnerOrReadOnly {
        fn has_permission(&self, _request: &Request) -> bool {
            true
        }
        fn has_object_permission(&self, request: &Request, object: &dyn Any) -> bool {
            is_safe(request.method())
                || object.downcast_ref::<Note>().is_some_and(|note| {
                    request.user.as_ref().map(|user| user.id) == Some(note.owner)
                })
        }
        fn denial(&self) -> Denial {
            Denial {
                message: "Only the owner may change it.".into(),
                ..Denial::default()
            }
        }
    }

    #[test]
    fn object_permissions_compose_as_drf_3_14() {
        let theirs = Note { owner: 2 };
        let mine = Note { owner: 1 };
        let member_put = request(Method::PUT, user(false));
        let staff_put = request(Method::PUT, user(true));
        let owner: Arc<dyn Permission> = Arc::new(IsOwnerOrReadOnly);
        let admin: Arc<dyn Permission> = Arc::new(IsAdminUser);
        assert!(owner.check_object(&member_put, &mine).is_ok());
        assert_eq!(
            owner
                .check_object(&member_put, &theirs)
                .unwrap_err()
                .message,
            "Only the owner may change it."
        );
        // `|`: a side allows the object only with its has_permission (IsAdminUser's default
        // object rule does not let a member through).
        let either = Or(Arc::clone(&admin), Arc::clone(&owner));
        assert!(either.check_object(&member_put, &theirs).is_err());
        assert!(either.check_object(&member_put, &mine).is_ok());
        assert!(either.check_object(&staff_put, &theirs).is_ok());
        // `&`: both object rules.
        let both = And(Arc::new(IsAuthenticated), Arc::clone(&owner));
        assert!(both.check_object(&member_put, &theirs).is_err());
        assert!(both.check_object(&member_put, &mine).is_ok());
        // `!`: the inner object rule, inverted.
        let not_owner = Not(Arc::clone(&owner));
        assert!(not_owner.check_object(&member_put, &theirs).is_ok());
        assert!(not_owner.check_object(&member_put, &mine).is_err());
        // An object of another type is not the owner's.
        assert!(owner.check_object(&member_put, &"a string").is_err());
        // Reads are allowed by the object rule.
        let member_get = request(Method::GET, user(false));
        assert!(owner.check_object(&member_get, &theirs).is_ok());
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
