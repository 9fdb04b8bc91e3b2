//! Declarative state of a profile outside the store. Only this module writes under
//! `<root>/etc/` and `<root>/var/`. For now: the config files and writable directories a
//! profile's packages declare ([`state`]); conffile merges, templates, users and services
//! come later (DESIGN.md "Source layout"). [`spec`] is the declarative profile file;
//! [`deploy`] is the one way a profile switches, with what surrounds it: [`hooks`],
//! [`snapshot`]s of the data, the [`service`] restart and its [`health`] check.

pub mod deploy;
pub mod deploy_error;
pub mod health;
pub mod hooks;
pub mod service;
pub mod snapshot;
pub mod spec;
pub mod state;
