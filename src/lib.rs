//! dbcheckin: the weekly Odoo update notification, sent by an agent beside the
//! database instead of by Odoo's cron, with failures said out loud.
//!
//! The modules follow the pipeline of one check-in:
//! [`config`] → [`discover`] → [`collect`] → [`wire`] (encode) → [`transport`] →
//! [`reply`] (parse and validate) → [`apply`], driven by [`checkin`] and the [`cli`].

pub mod admission;
pub mod apply;
pub mod checkin;
pub mod cli;
pub mod cloc;
pub mod cmd;
pub mod collect;
pub mod config;
pub mod confirm;
pub mod control;
pub mod daemon;
pub mod diagnose;
pub mod discover;
pub mod expiry;
pub mod failure;
pub mod json;
pub mod metrics;
pub mod now;
pub mod odoo;
pub mod output;
pub mod pg;
pub mod privileges;
pub mod record;
pub mod reply;
pub mod schedule;
pub mod secret;
pub mod state;
pub mod status;
pub mod sys;
pub mod timefmt;
pub mod transport;
pub mod wire;

#[cfg(test)]
mod fuzz;
