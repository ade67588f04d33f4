//! Odoo as Odoo sees itself on this host: its configuration file, its code
//! (`odoo/release.py`, the addons path) and the Python that runs it.
pub mod conf;
