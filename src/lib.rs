//! dbcheckin: the weekly Odoo update notification, sent by an agent beside the
//! database instead of by Odoo's cron, with failures said out loud.
//!
//! The modules follow the pipeline of one check-in:
//! [`config`] → [`discover`] → [`collect`] → [`wire`] (encode) → [`transport`] →
//! [`reply`] (parse and validate) → [`apply`], driven by [`checkin`] and the [`cli`].

#![deny(unsafe_code)]

pub mod admission;
pub mod apply;
pub mod checkin;
pub mod cli;
pub mod cloc;
pub mod collect;
pub mod config;
pub mod confirm;
pub mod control;
pub mod daemon;
pub mod diagnose;
pub mod discover;
pub mod duplicate;
pub mod failure;
mod fnv;
pub mod grant;
pub mod json;
pub mod maintenance;
pub mod metrics;
pub mod odoo;
pub mod pg;
pub mod record;
pub mod register;
pub mod reply;
pub mod schedule;
pub mod state;
pub mod status;
#[allow(unsafe_code)]
pub mod sys;
pub mod transport;
pub mod wire;

#[cfg(test)]
mod fuzz;
