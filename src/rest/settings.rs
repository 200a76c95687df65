//! Provides `ApiSettings`: the default class lists every view uses unless it overrides them.

use std::sync::Arc;

use ipnet::IpNet;

use crate::addresses::ClientBuckets;

use crate::rest::authentication::Authentication;
use crate::rest::permissions::Permission;
use crate::rest::request::BodyLimits;
use crate::rest::throttling::Throttle;

#[derive(Clone)]
pub struct ApiSettings {
    pub authentication_classes: Vec<Arc<dyn Authentication>>,
    pub permission_classes: Vec<Arc<dyn Permission>>,
    pub throttle_classes: Vec<Arc<dyn Throttle>>,
    pub trusted_proxies: Vec<IpNet>,
    /// Which addresses count as one client in the throttles.
    pub client_buckets: ClientBuckets,
    pub body_limits: BodyLimits,
}
