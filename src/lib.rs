//! portcullis: Django REST Framework's pipeline and simplejwt's endpoints on actix-web.

pub mod accounts;
pub mod addresses;
pub mod admin;
pub mod authtoken;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod db;
pub mod events;
pub mod exporter;
pub mod gate;
pub mod hashers;
pub mod health;
pub mod hello;
pub mod jwt;
#[cfg(test)]
mod layers;
pub mod logging;
pub mod metrics;
pub mod models;
pub mod rest;
pub mod sealing;
pub mod startup;
pub mod state;
pub mod urls;
pub mod well_known;
