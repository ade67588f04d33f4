#![allow(dead_code)]
pub mod cli;
pub mod config;
pub mod db;
pub mod endpoint;
pub mod lock;
pub mod netns;
pub mod odoo_tree;
pub mod others;
pub mod promtool;
pub mod proxy;
pub mod registry;
pub mod replies;
pub mod role;
pub mod root;
pub mod validation_server;
