//! The validation server's subscription registry: a faithful model of the
//! vendor's server-side rules, so `register` can be tested end to end against
//! replies computed from what dbcheckin actually sent.
//!
//! It plugs into the test validation server as a [`Behaviour::Func`]: each
//! request's `arg0` is parsed with dbcheckin's own Python-literal parser (the
//! real server runs `ast.literal_eval`-like parsing on it), the rules below
//! decide, and the reply is written with dbcheckin's byte-exact `repr`, so it
//! is exactly the Python literal Odoo's client would receive.
//!
//! State: subscription codes → [`Subscription`] (state, user limit,
//! expiration, linked database UUID, owner's e-mail), and per-UUID trial
//! expirations. The rules, in the order they are applied, are documented on
//! [`Registry::decide`] and the functions it calls.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dbcheckin::wire::{self, Value};
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use super::validation_server::{Behaviour, RecordedRequest};

/// A database that is not registered runs a trial of this many days from its
/// creation (`db_create_date`).
pub const TRIAL_DAYS: i64 = 30;
/// With more internal users than the subscription allows, the server grants
/// this many days to buy the missing users (reason `upsell`).
pub const UPSELL_DAYS: i64 = 30;
/// The message the server sends when it links a subscription to a database.
pub const LINKED_MESSAGE: &str = "Your subscription is now linked to this database";
/// Where a subscription's page lives; the subscription's id is appended. The
/// code itself never appears in a URL: it is a secret.
pub const SUBSCRIPTION_URL: &str = "https://www.odoo.com/my/subscriptions/";

/// A subscription's state on the vendor's side. Only "In Progress" registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionState {
    InProgress,
    Closed,
}

/// One subscription, as the vendor's server knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub state: SubscriptionState,
    /// Internal users allowed (`nbr_users - nbr_share_users`).
    pub user_limit: i64,
    pub expiration: PrimitiveDateTime,
    pub owner_email: String,
    /// The UUID of the one database the subscription is linked to.
    pub linked_uuid: Option<String>,
    /// The subscription's number, used in its URLs.
    pub id: u32,
}

impl Subscription {
    /// An "In Progress" subscription for `user_limit` internal users.
    pub fn in_progress(expiration: PrimitiveDateTime, user_limit: i64) -> Subscription {
        Subscription {
            state: SubscriptionState::InProgress,
            user_limit,
            expiration,
            owner_email: "owner@customer.example".into(),
            linked_uuid: None,
            id: 0,
        }
    }

    pub fn closed(self) -> Subscription {
        Subscription {
            state: SubscriptionState::Closed,
            ..self
        }
    }

    pub fn owned_by(self, email: &str) -> Subscription {
        Subscription {
            owner_email: email.into(),
            ..self
        }
    }

    pub fn url(&self) -> String {
        format!("{SUBSCRIPTION_URL}{}", self.id)
    }

    pub fn send_mail_url(&self) -> String {
        format!("{}/send-unlink-mail", self.url())
    }
}

/// The `database.already_linked_*` values of a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linked {
    pub url: String,
    pub email: String,
    pub send_mail_url: String,
}

/// What the server decided for one request, before it is written as Python.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub messages: Vec<String>,
    pub expiration_date: PrimitiveDateTime,
    pub expiration_reason: &'static str,
    /// Echoed only when the code is accepted; absent, Odoo deletes its copy.
    pub enterprise_code: Option<String>,
    pub already_linked: Option<Linked>,
}

impl Answer {
    /// The reply body: `{'messages': [...], 'enterprise_info': {...}}`.
    pub fn to_python(&self) -> String {
        let text = |s: &str| Value::Str(s.to_string());
        let mut info = vec![
            (
                text("expiration_date"),
                text(&format_date(self.expiration_date)),
            ),
            (text("expiration_reason"), text(self.expiration_reason)),
        ];
        if let Some(code) = &self.enterprise_code {
            info.push((text("enterprise_code"), text(code)));
        }
        if let Some(linked) = &self.already_linked {
            info.extend([
                (
                    text("database_already_linked_subscription_url"),
                    text(&linked.url),
                ),
                (text("database_already_linked_email"), text(&linked.email)),
                (
                    text("database_already_linked_send_mail_url"),
                    text(&linked.send_mail_url),
                ),
            ]);
        }
        let messages = self.messages.iter().map(|m| text(m)).collect();
        let reply = Value::Dict(vec![
            (text("messages"), Value::List(messages)),
            (text("enterprise_info"), Value::Dict(info)),
        ]);
        format!("{}\n", wire::repr(&reply))
    }
}

#[derive(Default)]
struct Book {
    subscriptions: BTreeMap<String, Subscription>,
    /// The trial end of each database UUID, fixed when first seen.
    trials: BTreeMap<String, PrimitiveDateTime>,
}

/// The registry; share it (`Arc`) between the server and the test.
pub struct Registry {
    book: Mutex<Book>,
    /// A fixed "now" for unit tests; the wall clock otherwise.
    clock: Option<PrimitiveDateTime>,
}

impl Registry {
    /// A registry on the wall clock.
    pub fn new() -> Arc<Registry> {
        Arc::new(Registry {
            book: Mutex::new(Book::default()),
            clock: None,
        })
    }

    /// A registry whose "now" is `now`.
    pub fn at(now: PrimitiveDateTime) -> Arc<Registry> {
        Arc::new(Registry {
            book: Mutex::new(Book::default()),
            clock: Some(now),
        })
    }

    /// A panicking test must not poison the registry for the server thread.
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> PrimitiveDateTime {
        self.clock.unwrap_or_else(|| {
            let now = OffsetDateTime::now_utc();
            let now = now.replace_nanosecond(0).unwrap_or(now);
            PrimitiveDateTime::new(now.date(), now.time())
        })
    }

    /// Adds (or replaces) the subscription of `code`, numbering it.
    pub fn add(&self, code: &str, subscription: Subscription) {
        let mut book = self.book();
        let id = 1000 + u32::try_from(book.subscriptions.len()).unwrap_or(0);
        book.subscriptions
            .insert(code.to_string(), Subscription { id, ..subscription });
    }

    pub fn subscription(&self, code: &str) -> Option<Subscription> {
        self.book().subscriptions.get(code).cloned()
    }

    /// What the owner does on Odoo.com with the "unlink" link.
    pub fn unlink(&self, code: &str) {
        if let Some(subscription) = self.book().subscriptions.get_mut(code) {
            subscription.linked_uuid = None;
        }
    }

    /// The trial end the server gave `uuid`, once it has seen it.
    pub fn trial_end(&self, uuid: &str) -> Option<PrimitiveDateTime> {
        self.book().trials.get(uuid).copied()
    }

    /// The validation server's behaviour: every valid request answered by
    /// these rules.
    pub fn behaviour(self: &Arc<Self>) -> Behaviour {
        let registry = Arc::clone(self);
        Behaviour::Func(Arc::new(move |request: &RecordedRequest| {
            registry.answer(request.arg0.as_deref())
        }))
    }

    /// `(status, body)` for a request's `arg0`. A message the server cannot
    /// read crashes its handler, as an Odoo controller does: 500.
    pub fn answer(&self, arg0: Option<&str>) -> (u16, String) {
        let decided = arg0
            .ok_or_else(|| "no arg0".to_string())
            .and_then(|arg0| wire::parse_literal(arg0).map_err(|e| e.to_string()))
            .and_then(|message| self.decide(&message));
        match decided {
            Ok(answer) => (200, answer.to_python()),
            Err(why) => (500, format!("Internal Server Error: {why}\n")),
        }
    }

    /// The rules, for one update notification:
    ///
    /// 1. No code (`False`), an unknown code, or a subscription that is not
    ///    "In Progress": the database stays in trial ([`Registry::trial`]).
    ///    The code is matched exactly, as sent: " CODE" is unknown, which is
    ///    why surrounding spaces make registrations fail.
    /// 2. A subscription linked to another UUID: the database stays in trial,
    ///    and the reply carries the three `database_already_linked_*` values
    ///    (where to unlink, the owner's e-mail, the page that mails the owner
    ///    the unlink link). One subscription links one database.
    /// 3. Otherwise the subscription is linked to this UUID (first use, or the
    ///    same UUID again), the code is echoed, and [`Registry::linked`]
    ///    gives the expiration. The first link comes with [`LINKED_MESSAGE`].
    pub fn decide(&self, message: &Value) -> Result<Answer, String> {
        let uuid = message
            .get("dbuuid")
            .and_then(Value::as_str)
            .filter(|uuid| !uuid.is_empty())
            .ok_or("the message has no dbuuid")?;
        let created = message.get("db_create_date").and_then(Value::as_str);
        let code = message
            .get("enterprise_code")
            .and_then(Value::as_str)
            .filter(|code| !code.is_empty());
        let internal_users = count(message, "nbr_users")? - count(message, "nbr_share_users")?;
        let now = self.now();
        let mut book = self.book();
        let trial_end = *book
            .trials
            .entry(uuid.to_string())
            .or_insert_with(|| trial_end(created, now));
        let Some((code, subscription)) = code.and_then(|code| {
            book.subscriptions
                .get_mut(code)
                .map(|subscription| (code, subscription))
        }) else {
            return Ok(Registry::trial(trial_end, None));
        };
        if subscription.state != SubscriptionState::InProgress {
            return Ok(Registry::trial(trial_end, None));
        }
        match &subscription.linked_uuid {
            Some(linked) if linked != uuid => {
                let linked = Linked {
                    url: subscription.url(),
                    email: subscription.owner_email.clone(),
                    send_mail_url: subscription.send_mail_url(),
                };
                Ok(Registry::trial(trial_end, Some(linked)))
            }
            Some(_) => Ok(Registry::linked(
                subscription,
                code,
                internal_users,
                now,
                false,
            )),
            None => {
                subscription.linked_uuid = Some(uuid.to_string());
                Ok(Registry::linked(
                    subscription,
                    code,
                    internal_users,
                    now,
                    true,
                ))
            }
        }
    }

    /// Not registered: the trial's end, reason `trial`, no code (so Odoo
    /// deletes the one it stored), and the already-linked values if any.
    fn trial(trial_end: PrimitiveDateTime, already_linked: Option<Linked>) -> Answer {
        Answer {
            messages: Vec::new(),
            expiration_date: trial_end,
            expiration_reason: "trial",
            enterprise_code: None,
            already_linked,
        }
    }

    /// Registered, the code echoed. The expiration:
    /// - an expired subscription (its date is past): that date, reason
    ///   `renewal`, so Odoo shows "This database has expired." until it is
    ///   renewed (PROTOCOL.md §4: past the date, the client blocks);
    /// - more internal users than the subscription allows: 30 days from now,
    ///   reason `upsell` ("…, you have more users than your subscription
    ///   allows");
    /// - otherwise the subscription's date, reason `renewal`.
    fn linked(
        subscription: &Subscription,
        code: &str,
        internal_users: i64,
        now: PrimitiveDateTime,
        first_link: bool,
    ) -> Answer {
        let (expiration_date, expiration_reason) = if subscription.expiration < now {
            (subscription.expiration, "renewal")
        } else if internal_users > subscription.user_limit {
            (now + Duration::days(UPSELL_DAYS), "upsell")
        } else {
            (subscription.expiration, "renewal")
        };
        Answer {
            messages: if first_link {
                vec![LINKED_MESSAGE.to_string()]
            } else {
                Vec::new()
            },
            expiration_date,
            expiration_reason,
            enterprise_code: Some(code.to_string()),
            already_linked: None,
        }
    }
}

/// `db_create_date` + [`TRIAL_DAYS`]; from now when the date is missing or
/// unreadable (a database the server cannot date still gets a trial).
fn trial_end(created: Option<&str>, now: PrimitiveDateTime) -> PrimitiveDateTime {
    created.and_then(parse_date).unwrap_or(now) + Duration::days(TRIAL_DAYS)
}

fn count(message: &Value, key: &str) -> Result<i64, String> {
    match message.get(key) {
        Some(Value::Int(n)) => Ok(*n),
        other => Err(format!("{key} is {other:?}, not an int")),
    }
}

/// Odoo's datetime text, `2027-01-15 00:00:00`.
pub fn format_date(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .unwrap_or_else(|e| panic!("cannot format {at}: {e}"))
}

pub fn parse_date(text: &str) -> Option<PrimitiveDateTime> {
    PrimitiveDateTime::parse(
        text,
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .ok()
}
