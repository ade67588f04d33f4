//! dbcheckin: the weekly Odoo update notification, sent by an agent beside the
//! database instead of by Odoo's cron, with failures said out loud.
//!
//! # Layout
//!
//! Two flows run through the modules. A **check-in**, driven by [`checkin`]:
//! [`discover`] (which databases) → [`collect`] (the message, by SQL; Enterprise
//! keys with [`cloc`] and [`odoo`]) → [`wire`] (encode as Odoo does) →
//! [`transport`] (HTTPS first, plain HTTP reported) → [`reply`] (what it means) →
//! [`apply`] (write it back as Odoo would) → [`record`] (into [`state`]). The
//! **daemon**: [`daemon`] runs [`schedule`] → check-in → record, and answers
//! [`control`] requests (`status`, `check-now`) and [`metrics`] scrapes.
//!
//! Commands live in [`cmd`], one module per command (`dbcheckin X` is
//! `cmd::X`); [`cli`] only parses, sets up logging and dispatches. **Commands
//! depend on the domain, never the reverse, and never on one another**; no two
//! modules import each other (`tests/it/layout.rs` checks both).
//!
//! | module | what it is for |
//! |---|---|
//! | [`cli`] | parse the command line, dispatch, exit status |
//! | [`cmd`] | each command: its arguments and `run` |
//! | [`config`] | the layered TOML configuration, validated |
//! | [`discover`] | the Odoo databases of the cluster, their UUIDs and copies |
//! | [`collect`] | the update-notification message of one database |
//! | [`cloc`] | the lines of custom code in Enterprise's `maintenance` key |
//! | [`odoo`] | Odoo on this host: odoo.conf, addons path, release, Python |
//! | [`wire`] | Python literals and the form body, byte for byte |
//! | [`transport`] | POST to the validation server, proxies, fallback |
//! | [`reply`] | the reply read under Odoo's rules |
//! | [`apply`] | the reply written into the database; Discuss messages |
//! | [`checkin`] | one check-in end to end, and many at once |
//! | [`now`] | a check-in now, through the daemon or in this process |
//! | [`record`], [`state`] | what is remembered per database between runs |
//! | [`schedule`] | weekly slots, retries, backoff |
//! | [`daemon`] | the event loop, control server, watchdog, memory |
//! | [`control`] | the control socket's protocol and client |
//! | [`admission`] | who gets a slot on the daemon's local servers |
//! | [`status`] | gather → evaluate → render where each database stands |
//! | [`metrics`] | Prometheus metrics and their endpoint |
//! | [`diagnose`] | DNS, TCP, TLS, HTTP probes and the verdict |
//! | [`symptom`] | the codes transport's failures and diagnose's findings share |
//! | [`pg`], [`privileges`] | connections, errors in plain words, what to grant |
//! | [`expiry`], [`timefmt`], [`secret`] | expiration rules, times for people, masked codes |
//! | [`failure`], [`output`], [`json`], [`confirm`], [`sys`] | error kinds, stdout, JSON lines, prompts, libc |

#![deny(unsafe_code)]

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
mod fnv;
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
pub mod symptom;
#[allow(unsafe_code)]
pub mod sys;
pub mod timefmt;
pub mod transport;
pub mod wire;

#[cfg(test)]
mod fuzz;
