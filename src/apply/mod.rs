//! Declarative state of a profile outside the store. Only this module writes under
//! `<root>/etc/` and `<root>/var/`, whose paths [`layout`] alone builds: the config files
//! and writable directories a profile's packages declare (seeded by [`state`]), and `berth apply`: the profile file ([`spec`]), its plan
//! ([`plan`]) and how it is carried out ([`converge`]), config files with dpkg's conffile
//! rules ([`conffile`]), templates ([`template`]), users and directories ([`ensure`]).
//! [`deploy`] is the one way a profile switches, with what surrounds it: [`hooks`],
//! [`snapshot`]s of the data, the [`service`] restart and its [`health`] check.

pub mod check;
mod children;
pub mod conffile;
pub mod constraint;
pub mod converge;
pub mod deploy;
pub mod deploy_error;
pub mod edit;
pub mod ensure;
mod error;
pub mod health;
pub mod hooks;
pub mod layout;
pub mod pending;
pub mod plan;
pub mod rendered;
pub mod service;
pub mod snapshot;
pub mod spec;
pub mod state;
pub mod template;

pub use children::supervise_if_asked;
pub use error::Error;
