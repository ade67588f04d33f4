//! The integration tests: one test binary (`cargo test --test it`), one module
//! per area, sharing the helpers in `common/`. One binary instead of one per
//! file: `common` is compiled once, and the whole suite links once.
//!
//! Run one area with `cargo test --test it status::`, one test with
//! `cargo test --test it status::status_reports_ok -- --exact`.
//!
//! The modules run in one process, in parallel threads: a test must not
//! change the process (environment, working directory, umask), and what is
//! cluster-wide in PostgreSQL (databases, roles) gets a unique name
//! (`common::db`, `common::role`).

mod common;

mod checkin;
mod cli;
mod daemon;
mod diagnose;
mod discuss;
mod enterprise;
mod fleet_sim;
mod grant;
mod layout;
mod message;
mod metrics;
mod packaging;
mod register;
mod reliability;
mod state_store;
mod status;
mod uuid;
mod validation_server_selftest;
mod wire_python;
