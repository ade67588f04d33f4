#![allow(dead_code)]
pub mod db;
pub mod proxy;
pub mod validation_server;
