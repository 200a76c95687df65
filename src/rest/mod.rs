//! The Django REST Framework port: requests, the pluggable policies and the view dispatcher.

pub mod authentication;
pub mod client;
pub mod csrf;
pub mod exceptions;
pub mod fields;
pub mod filters;
pub mod hosts;
pub mod metadata;
pub mod negotiation;
pub mod pagination;
pub mod parsers;
pub mod permissions;
pub mod remote_user;
pub mod renderers;
pub mod request;
pub mod response;
pub mod serializers;
pub mod settings;
pub mod throttling;
pub mod views;
pub mod viewsets;

pub use exceptions::ApiError;
pub use request::Request;
pub use response::Response;
pub use settings::ApiSettings;
pub use views::APIView;
