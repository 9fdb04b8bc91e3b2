//! Declarative state of a profile outside the store. Only this module writes under
//! `<root>/etc/` and `<root>/var/`. For now: the config files and writable directories a
//! profile's packages declare ([`state`]); conffile merges, templates, users and services
//! come later (DESIGN.md "Source layout"). [`spec`] is the declarative profile file.

pub mod deploy;
pub mod spec;
pub mod state;
