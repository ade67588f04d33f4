#![allow(dead_code)]
pub mod cli;
pub mod db;
pub mod proxy;
pub mod validation_server;
