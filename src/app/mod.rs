//! The programs: tinyd's startup (options, configuration, detaching, then
//! the loop) and the `tinyd ctl` client.
//!
//! Uses every layer; nothing uses it but the entry point. It never
//! supervises: once the loop runs (`sup`), startup code is never called
//! again.

#[cfg(feature = "ctl")]
pub mod ctl;
pub mod run;
