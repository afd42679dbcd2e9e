//! The supervisor's model (src/model) in its simulated world: the input
//! bytes are the choices (which event next: a reload with which services
//! and settings, a start/stop/restart request, time moving to the next
//! exit or deadline, a settling pause), then a shutdown.
//!
//! Invariants (checked by `sim.rs` after every step, a violation panics):
//! never two live instances of one name; never a start beside another
//! instance of the name, of a service stopped by request, or during
//! shutdown; every waiting instance has a deadline in the poll timeout
//! (or waits for one that has); a valid reload always has room; services
//! wanted up run after a pause; shutdown ends within the stop timeout.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyd::pure::model::sim::{self, Bytes};

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u32;
    if let Err(v) = sim::run(&mut Bytes(data), len) {
        panic!("step {}: {}", v.step, v.what);
    }
});
