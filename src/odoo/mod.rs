//! Odoo as Odoo sees itself on this host: its configuration file, its code
//! (`odoo/release.py`, the addons path) and the Python that runs it.
pub mod addons;
pub mod conf;
pub mod user;
pub mod instance;
pub mod python;
