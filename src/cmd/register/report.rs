//! What a registration attempt came to, and how it is said.
//!
//! Odoo's web client decides from the parameters the check-in left behind:
//! the `already_linked_*` keys mean the subscription belongs to another
//! database; a reason of `trial` or `demo` means the server did not accept the
//! code; anything else, with the code still stored, is a registration. The
//! causes listed for a failure are only those that apply here, each with what
//! to do, so the checklist never sends an administrator after a cause that
//! cannot be theirs.

use std::fmt::Write as _;

use serde::Serialize;
use time::OffsetDateTime;

use super::store::{AlreadyLinked, Stored};
use crate::checkin::{Outcome, OutcomeError};
use crate::cmd::Exit;
use crate::diagnose::{Finding, Report, Verdict};
use crate::failure::Kind;
use crate::{expiry, secret};

/// Version of the `--json` document; bumped only on an incompatible change.
pub const SCHEMA_VERSION: u32 = 1;
/// Odoo's own message when a registration fails (web_enterprise).
pub const ODOO_FAILED: &str =
    "Something went wrong while registering your database, you can try again or contact Odoo Help";
/// Reasons meaning "not registered", as Odoo's web client reads them.
const UNREGISTERED_REASONS: [&str; 2] = ["trial", "demo"];

/// What the attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// The server accepted the code: the database is registered.
    Registered,
    /// The server accepted the code, but the subscription's date is past.
    Expired,
    /// The subscription is linked to another database.
    AlreadyLinked,
    /// The server answered, and the database is still in trial.
    Unregistered,
    /// No valid answer came back (network, database, reply).
    CheckInFailed,
}

/// One applicable cause of a failed registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    NotInProgress,
    AlreadyLinked,
    SharedUuid,
    Network,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub cause: CauseKind,
    pub message: String,
}

/// What `dbcheckin diagnose` concluded, when the check-in failed for a
/// network reason.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub verdict: Verdict,
    pub summary: String,
    pub findings: Vec<Finding>,
}

impl From<Report> for Diagnosis {
    fn from(report: Report) -> Diagnosis {
        Diagnosis {
            verdict: report.verdict,
            summary: report.summary,
            findings: report.findings,
        }
    }
}

/// The result of `register`, printed as text or as the `--json` document.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    pub schema_version: u32,
    pub database: String,
    pub uuid: String,
    pub registered: bool,
    pub outcome: OutcomeKind,
    /// The code, masked (first 2 and last 4 characters).
    pub code: Option<String>,
    /// Whether the code is still in `database.enterprise_code` after the check-in.
    pub code_stored: bool,
    pub expiration_date: Option<String>,
    pub expiration_reason: Option<String>,
    pub already_linked: Option<AlreadyLinked>,
    pub causes: Vec<Cause>,
    pub diagnose: Option<Diagnosis>,
    /// Messages the validation server sent with its reply.
    pub messages: Vec<String>,
    pub error: Option<OutcomeError>,
}

/// Everything known once the check-in is over.
#[derive(Debug)]
pub struct Facts<'a> {
    pub database: &'a str,
    pub uuid: &'a str,
    pub code: &'a str,
    /// The check-in's outcome, or why none could be had.
    pub check_in: Result<Outcome, OutcomeError>,
    /// The parameters after the check-in.
    pub stored: Stored,
    /// Other databases of the cluster with the same UUID.
    pub copies: Vec<String>,
    pub now: OffsetDateTime,
}

impl Registration {
    /// Classifies the attempt and lists the causes that apply (all but the
    /// network one, which needs a diagnosis: see [`Registration::network`]).
    pub fn assess(facts: Facts<'_>) -> Registration {
        let (messages, error) = match facts.check_in {
            Ok(outcome) if outcome.ok => (outcome.messages, None),
            Ok(outcome) => (
                outcome.messages,
                Some(outcome.error.unwrap_or_else(|| OutcomeError {
                    kind: Kind::BadReply,
                    message: "the check-in failed without saying why".into(),
                    fallback: None,
                })),
            ),
            Err(error) => (Vec::new(), Some(error)),
        };
        let stored = facts.stored;
        let code_stored = stored.code.as_deref() == Some(facts.code);
        let outcome = kind(error.is_some(), &stored, code_stored, facts.now);
        let mut registration = Registration {
            schema_version: SCHEMA_VERSION,
            database: facts.database.to_string(),
            uuid: facts.uuid.to_string(),
            registered: matches!(outcome, OutcomeKind::Registered | OutcomeKind::Expired),
            outcome,
            code: secret::mask_code(facts.code),
            code_stored,
            expiration_date: stored.expiration_date,
            expiration_reason: stored.expiration_reason,
            already_linked: stored.already_linked,
            causes: Vec::new(),
            diagnose: None,
            messages,
            error,
        };
        if !registration.registered {
            registration.causes = registration.causes_besides_network(&facts.copies);
        }
        registration
    }

    /// Whether the check-in failed for a reason `dbcheckin diagnose` can explain.
    pub fn failed_on_network(&self) -> bool {
        self.error.as_ref().is_some_and(|e| is_network(e.kind))
    }

    /// Adds the network cause, with what the diagnosis found (or why it
    /// could not run).
    pub fn network(&mut self, diagnosis: Result<Diagnosis, String>) {
        let Some(error) = &self.error else { return };
        let mut message = format!(
            "the validation server could not be reached [{}] (see above).",
            error.kind
        );
        match &diagnosis {
            Ok(diagnosis) => {
                let _ = write!(
                    message,
                    " dbcheckin diagnose says: {}: {}.",
                    diagnosis.verdict.as_str(),
                    diagnosis.summary
                );
                for finding in &diagnosis.findings {
                    let _ = write!(
                        message,
                        "\n      {} {}: {} Fix: {}",
                        finding.severity.as_str(),
                        finding.code.as_str(),
                        finding.message,
                        finding.remedy
                    );
                }
            }
            Err(why) => {
                let _ = write!(message, " dbcheckin diagnose could not run: {why}.");
            }
        }
        self.causes.push(Cause {
            cause: CauseKind::Network,
            message,
        });
        self.diagnose = diagnosis.ok();
    }

    /// `register`'s exit: success only for a registration that works.
    pub fn exit(&self) -> Exit {
        Exit::failed_if(self.outcome != OutcomeKind::Registered)
    }

    fn causes_besides_network(&self, copies: &[String]) -> Vec<Cause> {
        let mut causes = Vec::new();
        if self.outcome == OutcomeKind::Unregistered {
            causes.push(Cause {
                cause: CauseKind::NotInProgress,
                message: format!(
                    "the subscription may not be \"In Progress\", or {} may not be its code: the validation server does not say which, and it cannot be seen from here. Check: on Odoo.com, My Account → Subscriptions, the subscription must be \"In Progress\" and show this code; otherwise contact Odoo Help.",
                    self.code_text()
                ),
            });
        }
        if let Some(linked) = &self.already_linked {
            causes.push(Cause {
                cause: CauseKind::AlreadyLinked,
                message: linked_text(linked),
            });
        }
        for copy in copies {
            causes.push(Cause {
                cause: CauseKind::SharedUuid,
                message: format!(
                    "another database on this server, {copy}, has the same UUID ({}): the validation server sees both as one database. Fix: dbcheckin uuid regenerate --database {copy}, then register again.",
                    self.uuid
                ),
            });
        }
        causes
    }

    fn code_text(&self) -> String {
        match &self.code {
            Some(masked) => format!("the code {masked}"),
            None => "the code".to_string(),
        }
    }

    /// The text for a human.
    pub fn human(&self, now: OffsetDateTime) -> String {
        let (name, uuid) = (&self.database, &self.uuid);
        let date = self.expiration_day().unwrap_or("an unknown date");
        let mut out = match self.outcome {
            OutcomeKind::Registered => {
                let mut text =
                    format!("Registered {name} (UUID {uuid}). Subscription valid until {date}.\n");
                if let Some(banner) = self.banner(now) {
                    let _ = writeln!(text, "Odoo shows its users: \"{banner}\"");
                }
                text
            }
            OutcomeKind::Expired => format!(
                "Registered {name} (UUID {uuid}), but the subscription expired on {date}: Odoo shows \"This database has expired.\" and blocks its users. Fix: renew the subscription, then run `dbcheckin check-now --database {name}`.\n"
            ),
            _ => self.failure_text(),
        };
        for message in &self.messages {
            let _ = writeln!(out, "Message from the validation server: {message}");
        }
        out
    }

    fn failure_text(&self) -> String {
        let (name, uuid) = (&self.database, &self.uuid);
        let headline = match (&self.outcome, &self.error) {
            (OutcomeKind::AlreadyLinked, _) => {
                "its subscription is already linked to another database".to_string()
            }
            (_, Some(error)) => format!("the check-in failed [{}] {}", error.kind, error.message),
            _ => format!(
                "the validation server still reports it as {} (expires {})",
                self.expiration_reason.as_deref().unwrap_or("trial"),
                self.expiration_day().unwrap_or("at an unknown date")
            ),
        };
        let mut out =
            format!("{name} (UUID {uuid}) is not registered: {headline}.\n{ODOO_FAILED}.\n");
        if !self.causes.is_empty() {
            out.push_str("What applies here:\n");
            for cause in &self.causes {
                let _ = writeln!(out, "  - {}", cause.message);
            }
        }
        let code = capitalized(&self.code_text());
        if self.code_stored {
            let _ = writeln!(
                out,
                "{code} stays stored in {name}, as Odoo keeps it: every check-in sends it again. To remove it: dbcheckin unregister --database {name}"
            );
        } else {
            let _ = writeln!(
                out,
                "The validation server's reply removed the code from {name}, as Odoo applies it: once the cause is fixed, run dbcheckin register again."
            );
        }
        out
    }

    /// The date part of the expiration (`2027-01-15`).
    fn expiration_day(&self) -> Option<&str> {
        let date = self.expiration_date.as_deref()?;
        Some(date.split_once(' ').map_or(date, |(day, _)| day))
    }

    /// The banner Odoo's web client shows now, if any.
    fn banner(&self, now: OffsetDateTime) -> Option<String> {
        let expires = expiry::parse_expiration(self.expiration_date.as_deref()?)?;
        expiry::banner(
            expiry::days_left(expires, now),
            self.expiration_reason.as_deref(),
        )
    }
}

/// Odoo's web client's reading of the parameters, plus the check-in's own
/// failure, which comes first: without a reply the parameters say nothing new.
fn kind(failed: bool, stored: &Stored, code_stored: bool, now: OffsetDateTime) -> OutcomeKind {
    if failed {
        return OutcomeKind::CheckInFailed;
    }
    if stored.already_linked.is_some() {
        return OutcomeKind::AlreadyLinked;
    }
    let reason = stored.expiration_reason.as_deref().unwrap_or("trial");
    if !code_stored || UNREGISTERED_REASONS.contains(&reason) {
        return OutcomeKind::Unregistered;
    }
    let expired = stored
        .expiration_date
        .as_deref()
        .and_then(expiry::parse_expiration)
        .is_some_and(|expires| expiry::days_left(expires, now) <= 0);
    if expired {
        OutcomeKind::Expired
    } else {
        OutcomeKind::Registered
    }
}

/// Failures on the way to the validation server, which the diagnosis probes:
/// no answer, a cut exchange, or something else answering in its place.
fn is_network(kind: Kind) -> bool {
    kind.is_no_response() || matches!(kind, Kind::Reset | Kind::HttpStatus | Kind::BadReply)
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn linked_text(linked: &AlreadyLinked) -> String {
    let mut text = "the subscription is already linked to another database, and one subscription links one database.".to_string();
    if let Some(url) = &linked.url {
        let _ = write!(text, " Unlink it there: {url}");
    }
    if let Some(email) = &linked.email {
        let _ = write!(text, " (the subscription's owner: {email})");
    }
    if let Some(url) = &linked.send_mail_url {
        let _ = write!(
            text,
            "; to have the unlink link e-mailed to the owner: {url}"
        );
    }
    text.push_str(". Then register again.");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-21 12:00 UTC);
    const CODE: &str = "M-REGISTER-000042";

    fn stored(reason: &str, date: &str, code: Option<&str>) -> Stored {
        Stored {
            code: code.map(Into::into),
            expiration_date: Some(date.into()),
            expiration_reason: Some(reason.into()),
            already_linked: None,
        }
    }

    fn ok_outcome() -> Outcome {
        let db = crate::discover::Database {
            name: "prod".into(),
            uuid: "u".into(),
            create_date: None,
            oid: 0,
            neutralized: false,
        };
        Outcome {
            skipped: None,
            messages: vec!["hello".into()],
            ..Outcome::neutralized(&db)
        }
    }

    fn assess(
        check_in: Result<Outcome, OutcomeError>,
        stored: Stored,
        copies: &[&str],
    ) -> Registration {
        Registration::assess(Facts {
            database: "prod",
            uuid: "u",
            code: CODE,
            check_in,
            stored,
            copies: copies.iter().map(|c| c.to_string()).collect(),
            now: NOW,
        })
    }

    #[test]
    fn a_renewal_with_the_code_kept_is_a_registration() {
        let r = assess(
            Ok(ok_outcome()),
            stored("renewal", "2027-01-15 00:00:00", Some(CODE)),
            &["copy"],
        );
        assert_eq!(
            (r.outcome, r.registered, r.exit().code()),
            (OutcomeKind::Registered, true, 0)
        );
        assert!(
            r.causes.is_empty(),
            "no checklist for a success: {:?}",
            r.causes
        );
        let text = r.human(NOW);
        assert!(
            text.starts_with("Registered prod (UUID u). Subscription valid until 2027-01-15.\n"),
            "{text}"
        );
        assert!(
            text.contains("Message from the validation server: hello"),
            "{text}"
        );
        assert!(!text.contains(CODE), "{text}");
    }

    #[test]
    fn upsell_registers_and_shows_odoos_banner() {
        let r = assess(
            Ok(ok_outcome()),
            stored("upsell", "2026-12-21 12:00:00", Some(CODE)),
            &[],
        );
        assert_eq!(r.outcome, OutcomeKind::Registered);
        assert!(
            r.human(NOW).contains("\"This database will expire in 1 month, you have more users than your subscription allows\""),
            "{}",
            r.human(NOW)
        );
    }

    #[test]
    fn a_past_date_is_registered_but_expired() {
        let r = assess(
            Ok(ok_outcome()),
            stored("renewal", "2026-01-15 00:00:00", Some(CODE)),
            &[],
        );
        assert_eq!(
            (r.outcome, r.registered, r.exit().code()),
            (OutcomeKind::Expired, true, 1)
        );
        assert!(r.human(NOW).contains("This database has expired."));
    }

    #[test]
    fn trial_or_demo_or_a_dropped_code_is_unregistered_with_the_in_progress_cause() {
        for s in [
            stored("trial", "2026-12-21 00:00:00", Some(CODE)),
            stored("demo", "2026-12-21 00:00:00", Some(CODE)),
            stored("renewal", "2026-12-21 00:00:00", None),
        ] {
            let r = assess(Ok(ok_outcome()), s, &[]);
            assert_eq!(
                (r.outcome, r.registered, r.exit().code()),
                (OutcomeKind::Unregistered, false, 1)
            );
            let causes: Vec<CauseKind> = r.causes.iter().map(|c| c.cause).collect();
            assert_eq!(causes, [CauseKind::NotInProgress]);
            assert!(r.human(NOW).contains(ODOO_FAILED));
        }
    }

    #[test]
    fn already_linked_names_the_link_and_a_shared_uuid_names_the_copy() {
        let mut s = stored("trial", "2026-12-21 00:00:00", None);
        s.already_linked = Some(AlreadyLinked {
            url: Some("https://example.invalid/unlink".into()),
            email: Some("owner@example.invalid".into()),
            send_mail_url: None,
        });
        let r = assess(Ok(ok_outcome()), s, &["prod_copy"]);
        assert_eq!(r.outcome, OutcomeKind::AlreadyLinked);
        let causes: Vec<CauseKind> = r.causes.iter().map(|c| c.cause).collect();
        assert_eq!(causes, [CauseKind::AlreadyLinked, CauseKind::SharedUuid]);
        let text = r.human(NOW);
        for needle in [
            "https://example.invalid/unlink",
            "owner@example.invalid",
            "one subscription links one database",
            "uuid regenerate --database prod_copy",
            "removed the code",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }

    #[test]
    fn a_failed_check_in_is_classified_before_the_parameters() {
        let error = OutcomeError {
            kind: Kind::Refused,
            message: "connection refused".into(),
            fallback: None,
        };
        let r = assess(
            Err(error),
            stored("renewal", "2027-01-15 00:00:00", Some(CODE)),
            &[],
        );
        assert_eq!(r.outcome, OutcomeKind::CheckInFailed);
        assert!(r.failed_on_network());
        assert!(
            r.causes.is_empty(),
            "the network cause comes with the diagnosis"
        );
        assert!(
            r.human(NOW).contains("stays stored in prod"),
            "{}",
            r.human(NOW)
        );
        let database = OutcomeError {
            kind: Kind::Permission,
            message: "denied".into(),
            fallback: None,
        };
        assert!(!assess(Err(database), Stored::default(), &[]).failed_on_network());
    }
}
